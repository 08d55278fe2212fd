// PEM text parsing and normalisation: splits a bundle into labelled DER blocks, tolerating CRLF,
// blank lines and text between blocks, and reports private-key blocks without ever echoing them.

/** One armored block, numbered from 1 in the order it appears in the text. */
export interface PemBlock {
  index: number;
  label: string;
  der: Uint8Array;
}

export type PemProblemKind =
  | 'private-key'
  | 'unterminated'
  | 'mismatched-end'
  | 'bad-base64'
  | 'headers'
  | 'stray-end';

/**
 * Something wrong with the PEM text itself. `index` is the block number (1-based) where known.
 * Messages name the block and its label only: never its content, since it may be a key.
 */
export interface PemProblem {
  kind: PemProblemKind;
  index: number;
  label: string;
  message: string;
}

export interface ParsedPem {
  blocks: PemBlock[];
  problems: PemProblem[];
  /** Non-blank lines outside any block (comments, `openssl x509 -text` output, ...). */
  strayTextLines: number;
  /** True when any private key material was seen, armored or not. */
  containsPrivateKey: boolean;
}

const BEGIN = /^-----BEGIN ([^-]*)-----$/;
const END = /^-----END ([^-]*)-----$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// Any private-key armor anywhere in the text, even glued to other text or without an END line.
const PRIVATE_KEY_MARKER = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----/;

export function isPrivateKeyLabel(label: string): boolean {
  return label.toUpperCase().includes('PRIVATE KEY');
}

/** Parses PEM text into blocks. Never throws; every defect becomes a `PemProblem`. */
export function parsePem(text: string): ParsedPem {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const blocks: PemBlock[] = [];
  const problems: PemProblem[] = [];
  let strayTextLines = 0;
  let containsPrivateKey = PRIVATE_KEY_MARKER.test(text);
  let open: { label: string; index: number; body: string[]; headers: boolean } | undefined;
  let count = 0;

  const problem = (kind: PemProblemKind, index: number, label: string, message: string) =>
    problems.push({ kind, index, label, message });

  for (const rawLine of lines) {
    const line = rawLine.trim();
    if (open === undefined) {
      const begin = BEGIN.exec(line);
      if (begin) {
        count++;
        open = { label: begin[1] ?? '', index: count, body: [], headers: false };
      } else if (END.test(line)) {
        count++;
        problem('stray-end', count, END.exec(line)?.[1] ?? '', `block ${count} is an END line without a BEGIN line`);
      } else if (line !== '') {
        strayTextLines++;
      }
      continue;
    }
    const end = END.exec(line);
    if (end) {
      finishBlock(open, end[1] ?? '');
      open = undefined;
    } else if (BEGIN.test(line)) {
      // A BEGIN inside a block: the open block was never terminated; start over with the new one.
      reportUnterminated(open);
      count++;
      open = { label: BEGIN.exec(line)?.[1] ?? '', index: count, body: [], headers: false };
    } else if (line.includes(':')) {
      open.headers = true;
    } else if (line !== '') {
      open.body.push(line);
    }
  }
  if (open !== undefined) reportUnterminated(open);
  return { blocks, problems, strayTextLines, containsPrivateKey };

  function reportUnterminated(block: { label: string; index: number }) {
    if (isPrivateKeyLabel(block.label)) {
      containsPrivateKey = true;
      problem('private-key', block.index, block.label, privateKeyMessage(block.index, block.label));
      return;
    }
    problem(
      'unterminated',
      block.index,
      block.label,
      `block ${block.index} (${block.label}) has no matching "-----END ${block.label}-----" line`,
    );
  }

  function finishBlock(block: { label: string; index: number; body: string[]; headers: boolean }, endLabel: string) {
    const { label, index } = block;
    if (isPrivateKeyLabel(label) || isPrivateKeyLabel(endLabel)) {
      containsPrivateKey = true;
      problem('private-key', index, label, privateKeyMessage(index, label));
      return;
    }
    if (endLabel !== label) {
      problem('mismatched-end', index, label, `block ${index} begins as ${label} but ends as ${endLabel}`);
      return;
    }
    if (block.headers) {
      problem('headers', index, label, `block ${index} (${label}) has RFC 1421 headers, which a certificate never has`);
      return;
    }
    const body = block.body.join('');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64.test(body)) {
      problem('bad-base64', index, label, `block ${index} (${label}) is not valid base64`);
      return;
    }
    blocks.push({ index, label, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
}

function privateKeyMessage(index: number, label: string): string {
  return `block ${index} is a private key (${label}); a trust bundle holds public certificates only`;
}

/** Canonical PEM for one DER block: 64-column base64, LF line endings, trailing newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
