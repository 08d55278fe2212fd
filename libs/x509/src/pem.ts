// PEM text parsing and normalisation: splits text into labelled DER blocks, tolerating CRLF,
// blank lines and text between blocks, and reports private-key blocks without ever echoing them.
// Lenient on purpose (keys, messages); what Linkerd itself reads from a trust bundle is
// `readBundleAsLinkerd` (linkerd-pem.ts), which parseBundle applies on top.

/** One armored block, numbered from 1 in the order it appears in the text. */
export interface PemBlock {
  index: number;
  /** 1-based line of its BEGIN line (CRLF and bare CR count as one line break). */
  line: number;
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
  /** 1-based line of the block's BEGIN (or stray END) line. */
  line: number;
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
  let open: OpenBlock | undefined;
  let count = 0;
  let lineNumber = 0;

  const problem = (kind: PemProblemKind, block: { index: number; line: number }, label: string, message: string) =>
    problems.push({ kind, index: block.index, line: block.line, label, message });

  for (const rawLine of lines) {
    lineNumber++;
    const line = rawLine.trim();
    if (open === undefined) {
      const begin = BEGIN.exec(line);
      if (begin) {
        count++;
        open = { label: begin[1] ?? '', index: count, line: lineNumber, body: [], headers: false };
      } else if (END.test(line)) {
        count++;
        problem('stray-end', { index: count, line: lineNumber }, END.exec(line)?.[1] ?? '', `block ${count} (line ${lineNumber}) is an END line without a BEGIN line`);
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
      open = { label: BEGIN.exec(line)?.[1] ?? '', index: count, line: lineNumber, body: [], headers: false };
    } else if (line.includes(':')) {
      open.headers = true;
    } else if (line !== '') {
      open.body.push(line);
    }
  }
  if (open !== undefined) reportUnterminated(open);
  return { blocks, problems, strayTextLines, containsPrivateKey };

  function reportUnterminated(block: OpenBlock) {
    if (isPrivateKeyLabel(block.label)) {
      containsPrivateKey = true;
      problem('private-key', block, block.label, privateKeyMessage(block));
      return;
    }
    problem('unterminated', block, block.label, `${where(block)} (${block.label}) has no matching "-----END ${block.label}-----" line`);
  }

  function finishBlock(block: OpenBlock, endLabel: string) {
    const { label } = block;
    if (isPrivateKeyLabel(label) || isPrivateKeyLabel(endLabel)) {
      containsPrivateKey = true;
      problem('private-key', block, label, privateKeyMessage(block));
      return;
    }
    if (endLabel !== label) {
      problem('mismatched-end', block, label, `${where(block)} begins as ${label} but ends as ${endLabel}`);
      return;
    }
    if (block.headers) {
      problem('headers', block, label, `${where(block)} (${label}) has RFC 1421 headers, which a certificate never has`);
      return;
    }
    const body = block.body.join('');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64.test(body)) {
      problem('bad-base64', block, label, `${where(block)} (${label}) is not valid base64`);
      return;
    }
    blocks.push({ index: block.index, line: block.line, label, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
}

interface OpenBlock {
  label: string;
  index: number;
  line: number;
  body: string[];
  headers: boolean;
}

/** "block 2 at line 14": how every message names a block. */
export function where(block: { index: number; line: number }): string {
  return `block ${block.index} at line ${block.line}`;
}

function privateKeyMessage(block: { index: number; line: number; label: string }): string {
  return `${where(block)} is a private key (${block.label}); a trust bundle holds public certificates only`;
}

/** Canonical PEM for one DER block: 64-column base64, LF line endings, trailing newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
