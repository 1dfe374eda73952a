import { randomBytes } from 'node:crypto';
import { ErrorCode, GatewayError } from '../../errors.js';
import type { MfaChallengeRecord, MfaChallengesStore } from '../../stores/mfa-challenges.store.js';
import type { SecondFactorStore, TotpRecord } from '../../stores/second-factor.store.js';
import { randomId } from '../../tokens/ids.js';
import type { SecondFactorKeys } from '../../tokens/second-factor-keys.js';
import { newTotpSecret, otpauthUri, qrCodeSvg, TOTP_PERIOD_SECONDS, totpStep } from './totp.js';

/** The methods that may answer an MFA challenge, in `extensions.methods`. */
export const SECOND_FACTOR_METHODS: readonly string[] = Object.freeze(['TOTP', 'RECOVERY_CODE']);
export const RECOVERY_CODE_COUNT = 10;
export const MFA_CHALLENGE_TTL_SECONDS = 300;
/** Wrong codes a challenge survives: the fifth attempt is its last. */
export const MFA_CHALLENGE_MAX_ATTEMPTS = 5;

export interface TotpEnrollment {
  readonly secret: string;
  readonly otpauthUri: string;
  readonly qrCodeSvg: string;
}

export interface SecondFactorStatus {
  readonly totpEnabled: boolean;
  readonly recoveryCodesLeft: number;
}

/** What a code proved: a TOTP code or a recovery code (both one-time passwords: `otp` in RFC 8176). */
export type CodeKind = 'totp' | 'recovery-code';

export interface SecondFactor {
  isEnrolled(userId: string): Promise<boolean>;
  status(userId: string): Promise<SecondFactorStatus>;
  beginTotpEnrollment(user: { id: string; email: string }): Promise<TotpEnrollment>;
  /** Confirms the pending enrollment with its first code; returns the recovery codes, shown this once. */
  confirmTotpEnrollment(userId: string, code: string): Promise<string[]>;
  disableTotp(userId: string, code: string): Promise<CodeKind>;
  regenerateRecoveryCodes(userId: string, code: string): Promise<string[]>;
  /** Removes the TOTP and the recovery codes without a code: for an operator's recovery. */
  remove(userId: string): Promise<void>;
  /** A new opaque challenge for a right password (or a step-up of `sessionId`). */
  createChallenge(input: { userId: string; sessionId: string | null; amr: readonly string[] }): Promise<string>;
  /** The live challenge, or MFA_CHALLENGE_INVALID. */
  readChallenge(challenge: string): Promise<MfaChallengeRecord>;
  /**
   * Answers a challenge: takes one of its attempts (MFA_CHALLENGE_INVALID when none is left), checks the code
   * (MFA_CODE_INVALID), and spends the challenge on success.
   */
  answerChallenge(record: MfaChallengeRecord, code: string): Promise<CodeKind>;
}

export interface SecondFactorDeps {
  readonly store: SecondFactorStore;
  readonly challenges: MfaChallengesStore;
  readonly keys: SecondFactorKeys;
  readonly issuer: string;
  readonly now: () => number;
}

const TOTP_CODE = /^\d{6}$/;
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** 10 characters from a 31-letter alphabet without look-alikes (about 50 bits), shown as xxxxx-xxxxx. */
function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let text = '';
  for (const byte of bytes) text += RECOVERY_ALPHABET[byte % RECOVERY_ALPHABET.length];
  return `${text.slice(0, 5)}-${text.slice(5)}`;
}

/** What the user typed, in the one spelling we hash: no spaces or dashes, lower case. */
function normaliseCode(code: string): string {
  return code.replace(/[\s-]/g, '').toLowerCase();
}

const codeInvalid = (): GatewayError => new GatewayError(ErrorCode.MFA_CODE_INVALID);
const challengeInvalid = (): GatewayError => new GatewayError(ErrorCode.MFA_CHALLENGE_INVALID);

export function createSecondFactor(deps: SecondFactorDeps): SecondFactor {
  const { store, challenges, keys, now } = deps;

  async function checkTotp(record: TotpRecord, code: string): Promise<boolean> {
    if (!TOTP_CODE.test(code)) return false;
    const at = now();
    const step = totpStep(keys.open(record.userId, record.sealedSecret), code, at);
    if (step === null) return false;
    // A code works once: the first to claim its step wins, a replay within the window is refused.
    const keepUntil = new Date(at + 3 * TOTP_PERIOD_SECONDS * 1000);
    return (await store.claimStep(record.userId, step, keepUntil)) === 'claimed';
  }

  async function checkRecoveryCode(record: TotpRecord, code: string): Promise<boolean> {
    const normalised = normaliseCode(code);
    if (normalised.length !== 10) return false;
    const hash = keys.hash('recovery-code', normalised);
    const found = await store.findRecoveryCode(hash);
    if (!found || found.userId !== record.userId || found.batch !== record.recoveryBatch) return false;
    return (await store.spendRecoveryCode(hash, new Date(now()))) === 'spent';
  }

  /** A confirmed factor's code of either kind; MFA_CODE_INVALID otherwise. */
  async function checkCode(userId: string, code: string): Promise<CodeKind> {
    const record = await store.find(userId);
    if (!record?.confirmedAt) throw codeInvalid();
    if (await checkTotp(record, code.trim())) return 'totp';
    if (!TOTP_CODE.test(code.trim()) && (await checkRecoveryCode(record, code))) return 'recovery-code';
    throw codeInvalid();
  }

  async function issueRecoveryCodes(userId: string): Promise<{ batch: string; codes: string[] }> {
    const batch = randomId();
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await store.addRecoveryCodes(userId, batch, codes.map((code) => keys.hash('recovery-code', normaliseCode(code))));
    return { batch, codes };
  }

  return {
    async isEnrolled(userId: string): Promise<boolean> {
      return Boolean((await store.find(userId))?.confirmedAt);
    },
    async status(userId: string): Promise<SecondFactorStatus> {
      const record = await store.find(userId);
      if (!record?.confirmedAt) return { totpEnabled: false, recoveryCodesLeft: 0 };
      return { totpEnabled: true, recoveryCodesLeft: await store.countRecoveryCodesLeft(userId, record.recoveryBatch) };
    },
    async beginTotpEnrollment(user: { id: string; email: string }): Promise<TotpEnrollment> {
      const secret = newTotpSecret();
      const stored = await store.putPending({
        userId: user.id,
        sealedSecret: keys.seal(user.id, secret),
        createdAt: new Date(now()),
        confirmedAt: null,
        recoveryBatch: '',
      });
      if (stored === 'exists') throw new GatewayError(ErrorCode.BAD_REQUEST, { detail: 'A second factor is already enabled; disable it first to enroll another.' });
      const uri = otpauthUri(secret, user.email, deps.issuer);
      return { secret, otpauthUri: uri, qrCodeSvg: await qrCodeSvg(uri) };
    },
    async confirmTotpEnrollment(userId: string, code: string): Promise<string[]> {
      const record = await store.find(userId);
      if (!record) throw new GatewayError(ErrorCode.BAD_REQUEST, { detail: 'Start with beginTotpEnrollment.' });
      if (record.confirmedAt) throw new GatewayError(ErrorCode.BAD_REQUEST, { detail: 'The second factor is already enabled.' });
      if (!(await checkTotp(record, code.trim()))) throw codeInvalid();
      const { batch, codes } = await issueRecoveryCodes(userId);
      await store.confirm(userId, new Date(now()), batch);
      return codes;
    },
    async disableTotp(userId: string, code: string): Promise<CodeKind> {
      const kind = await checkCode(userId, code);
      await store.remove(userId);
      await store.removeRecoveryCodes(userId);
      return kind;
    },
    async regenerateRecoveryCodes(userId: string, code: string): Promise<string[]> {
      await checkCode(userId, code);
      const { batch, codes } = await issueRecoveryCodes(userId);
      // The old batch stops working the moment the record names the new one.
      await store.setRecoveryBatch(userId, batch);
      return codes;
    },
    async remove(userId: string): Promise<void> {
      await store.remove(userId);
      await store.removeRecoveryCodes(userId);
    },
    async createChallenge(input: { userId: string; sessionId: string | null; amr: readonly string[] }): Promise<string> {
      const challenge = randomBytes(32).toString('base64url');
      const at = now();
      await challenges.insert({
        challengeHash: keys.hash('mfa-challenge', challenge),
        userId: input.userId,
        sessionId: input.sessionId,
        amr: input.amr,
        createdAt: new Date(at),
        expiresAt: new Date(at + MFA_CHALLENGE_TTL_SECONDS * 1000),
      });
      return challenge;
    },
    async readChallenge(challenge: string): Promise<MfaChallengeRecord> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw challengeInvalid();
      const record = await challenges.findActive(keys.hash('mfa-challenge', challenge), new Date(now()));
      if (!record) throw challengeInvalid();
      return record;
    },
    async answerChallenge(record: MfaChallengeRecord, code: string): Promise<CodeKind> {
      const attempt = await challenges.claimAttempt(record.challengeHash, MFA_CHALLENGE_MAX_ATTEMPTS, record.expiresAt);
      if (attempt === null) throw challengeInvalid();
      const kind = await checkCode(record.userId, code);
      if ((await challenges.spend(record.challengeHash, record.expiresAt)) !== 'spent') throw challengeInvalid();
      return kind;
    },
  };
}
