import { inspect } from 'node:util';

/** 256 bits: the floor for an HS256 key (RFC 7518 §3.2) and for the refresh-token hash key. */
export const MIN_SECRET_BYTES = 32;

/**
 * Values that appear in tutorials, examples and our own `.env.example`. Refused even when long, because an
 * attacker tries them first.
 */
const WELL_KNOWN = new Set(
  [
    'secret',
    'password',
    'password123',
    'changeme',
    'change-me',
    'your-secret',
    'your-64-byte-hex-secret-here',
    'jwt_secret',
    'supersecret',
    'replace-me-with-at-least-256-random-bits',
  ].map((value) => value.toLowerCase()),
);

/** The placeholder written in `.env.example`; refused so that copying the example file is not enough. */
export const EXAMPLE_SECRET = 'replace-me-with-at-least-256-random-bits';

/**
 * Secret key material. It never prints itself: `String()`, `JSON.stringify` and `console.log` show a
 * placeholder, so a config object can be logged without leaking keys.
 */
export class Secret {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    // A plain Uint8Array copy: Buffer#slice (what parseSecret and randomBytes hand in) shares memory instead of
    // copying, so the caller's wipe of bytes() would zero the key itself.
    this.#bytes = Uint8Array.from(bytes);
    Object.freeze(this);
  }

  /** A copy, so no caller can change the key in place. */
  bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  get length(): number {
    return this.#bytes.length;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return '[secret]';
  }
}

export type SecretParseResult = { ok: true; secret: Secret } | { ok: false; problem: string };

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * Parses a secret given as hex or base64url and refuses what is too short or not random. The entropy check is
 * a guard against human-made values ("aaaa…", "0123456789abcdef" repeated), not a proof of randomness: 32
 * random bytes have about 30 distinct values, so fewer than half of the possible distinct values is refused.
 */
export function parseSecret(text: string): SecretParseResult {
  const trimmed = text.trim();
  if (WELL_KNOWN.has(trimmed.toLowerCase())) {
    return { ok: false, problem: 'is a well-known value that attackers try first' };
  }
  let bytes: Uint8Array;
  if (HEX.test(trimmed)) {
    bytes = Buffer.from(trimmed, 'hex');
  } else if (BASE64URL.test(trimmed)) {
    bytes = Buffer.from(trimmed.replace(/=+$/, ''), 'base64url');
  } else {
    return { ok: false, problem: 'must be hex or base64url' };
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    return {
      ok: false,
      problem: `is ${bytes.length * 8} bits; at least ${MIN_SECRET_BYTES * 8} random bits are required`,
    };
  }
  const distinct = new Set(bytes).size;
  const expectedFloor = Math.min(bytes.length, 256) / 2;
  if (distinct < expectedFloor) {
    return { ok: false, problem: 'does not look random (too few distinct bytes)' };
  }
  return { ok: true, secret: new Secret(bytes) };
}

/** The command that prints a good value, for error messages. */
export const GENERATE_SECRET_HINT = `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`;

/**
 * Text that holds a credential, such as SMTP_URL with its password. Like Secret, it never prints itself;
 * `reveal()` is the one way to the value, for the code that must hand it on (the mail transport).
 */
export class SecretText {
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
    Object.freeze(this);
  }

  reveal(): string {
    return this.#text;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return '[secret]';
  }
}
