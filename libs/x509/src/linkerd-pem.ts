// How Linkerd's identity controller reads a trust bundle: linkerd2 pkg/tls/codec.go
// `DecodePEMCertificates`, a loop over Go's encoding/pem `Decode`, reproduced step by step so that
// the webhook and `validate-bundle` refuse exactly what identity would refuse or silently cut short.
//
// Go's `pem.Decode` (encoding/pem/pem.go) finds the next "-----BEGIN " at the start of a line
// (skipping any text before it), requires the type line to end in "-----", reads `Key: value`
// header lines, finds "\n-----END <type>-----" followed only by spaces or tabs on that line, and
// base64-decodes the body (spaces and tabs removed; CR and LF ignored). A candidate that fails any
// of these is skipped and the search goes on after it. It returns the block and the text after the
// END line (that line's own line break consumed), or no block and the whole input.
//
// `DecodePEMCertificates` decodes until nothing is left: when `Decode` finds no block in a
// non-empty rest (one extra blank line, a comment, a whitespace-only line after the last END line)
// it returns the error "not a PEM certificate" and identity refuses to start; at the first block
// that is not a CERTIFICATE it stops *without* an error, so every anchor after that block is
// silently dropped; a CERTIFICATE whose DER does not parse is an error.

/** What Linkerd's identity controller makes of a bundle's text. */
export interface LinkerdBundleRead {
  /** The CERTIFICATE blocks identity parses, in order, with the 1-based line of their BEGIN line. */
  certificates: Array<{ line: number; der: Uint8Array }>;
  /**
   * Set when identity refuses the bundle because no PEM block is found in what remains: `line` is
   * where that remainder starts, `blank` whether it holds only whitespace (an extra blank line).
   */
  refusedAt?: { line: number; blank: boolean };
  /** The first non-CERTIFICATE block: identity stops reading there and ignores everything after it. */
  stoppedAt?: { line: number; label: string };
}

const PEM_START = '\n-----BEGIN ';
const PEM_END = '\n-----END ';
const PEM_END_OF_LINE = '-----';
const GO_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface GoBlock {
  type: string;
  bytes: Uint8Array;
  /** Offset of the BEGIN line's first dash. */
  begin: number;
}

/** Go's `getLine`: the line from `from` (trailing spaces and tabs and a CR before the LF removed) and where the next starts. */
function getLine(data: string, from: number): { line: string; next: number } {
  let i = data.indexOf('\n', from);
  let next: number;
  if (i < 0) {
    i = data.length;
    next = i;
  } else {
    next = i + 1;
    if (i > from && data[i - 1] === '\r') i--;
  }
  return { line: data.slice(from, i).replace(/[ \t]+$/, ''), next };
}

/** Go's `base64.StdEncoding.Decode` after `removeSpacesAndTabs`: CR and LF are skipped, padding is required. */
function goBase64(body: string): Uint8Array | undefined {
  const compact = body.replace(/[ \t\r\n]/g, '');
  if (!GO_BASE64.test(compact)) return undefined;
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/** Go's `pem.Decode` over `data` from offset `start`: the next block and the offset after it, or none. */
function goPemDecode(data: string, start: number): { block: GoBlock; rest: number } | undefined {
  let rest = start;
  for (;;) {
    let begin: number;
    if (data.startsWith(PEM_START.slice(1), rest)) {
      begin = rest;
      rest += PEM_START.length - 1;
    } else {
      const at = data.indexOf(PEM_START, rest);
      if (at < 0) return undefined;
      begin = at + 1;
      rest = at + PEM_START.length;
    }
    const typeLine = getLine(data, rest);
    rest = typeLine.next;
    if (!typeLine.line.endsWith(PEM_END_OF_LINE)) continue;
    const type = typeLine.line.slice(0, -PEM_END_OF_LINE.length);

    let headers = 0;
    let truncated = false;
    for (;;) {
      if (rest >= data.length) {
        truncated = true;
        break;
      }
      const { line, next } = getLine(data, rest);
      if (!line.includes(':')) break;
      headers++;
      rest = next;
    }
    if (truncated) return undefined;

    let endIndex: number;
    let endTrailerIndex: number;
    if (headers === 0 && data.startsWith(PEM_END.slice(1), rest)) {
      endIndex = rest;
      endTrailerIndex = rest + PEM_END.length - 1;
    } else {
      const at = data.indexOf(PEM_END, rest);
      if (at < 0) continue;
      endIndex = at;
      endTrailerIndex = at + PEM_END.length;
    }
    const trailerLength = type.length + PEM_END_OF_LINE.length;
    if (data.length - endTrailerIndex < trailerLength) continue;
    const trailer = data.slice(endTrailerIndex, endTrailerIndex + trailerLength);
    if (!trailer.startsWith(type) || !trailer.endsWith(PEM_END_OF_LINE)) continue;
    if (getLine(data, endTrailerIndex + trailerLength).line.length !== 0) continue;
    const bytes = goBase64(data.slice(rest, endIndex));
    if (bytes === undefined) continue;
    // "-1": the END line may have matched without its leading newline.
    return { block: { type, bytes, begin }, rest: getLine(data, endIndex + PEM_END.length - 1).next };
  }
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * Reads `text` as Linkerd's identity controller does (`DecodePEMCertificates`). Parsing the DER of
 * each certificate is left to the caller (`parseCertificate`); everything else is decided here.
 */
export function readBundleAsLinkerd(text: string): LinkerdBundleRead {
  const certificates: LinkerdBundleRead['certificates'] = [];
  let offset = 0;
  while (offset < text.length) {
    const decoded = goPemDecode(text, offset);
    if (decoded === undefined) {
      return { certificates, refusedAt: { line: lineAt(text, offset), blank: text.slice(offset).trim() === '' } };
    }
    const { block, rest } = decoded;
    if (block.type !== 'CERTIFICATE') {
      return { certificates, stoppedAt: { line: lineAt(text, block.begin), label: block.type } };
    }
    certificates.push({ line: lineAt(text, block.begin), der: block.bytes });
    offset = rest;
  }
  return { certificates };
}
