import { createHash, randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { ErrorCode, GatewayError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { PasskeyRecord, PasskeysStore } from '../../stores/passkeys.store.js';
import type { UserRecord, UsersStore } from '../../stores/users.store.js';
import type { WebAuthnChallengeRecord, WebAuthnChallengesStore } from '../../stores/webauthn-challenges.store.js';
import { randomId } from '../../tokens/ids.js';

export const PASSKEY_CHALLENGE_TTL_SECONDS = 300;
const MAX_NAME_LENGTH = 64;
const MAX_RESPONSE_FIELD_LENGTH = 16_384;

/** What the auth layer shows of a passkey. */
export type PasskeyView = Pick<PasskeyRecord, 'id' | 'name' | 'createdAt' | 'lastUsedAt'>;

export interface PasskeyProof {
  readonly user: UserRecord;
  readonly passkey: PasskeyRecord;
  /** RFC 8176: hwk for a device-bound key, swk for a synced one; `user` and `mfa` since user verification is required. */
  readonly amr: readonly string[];
}

export interface Passkeys {
  registrationOptions(input: { user: UserRecord; sessionId: string }): Promise<unknown>;
  register(input: { user: UserRecord; sessionId: string; response: unknown; name: string | undefined }): Promise<PasskeyRecord>;
  /** Options for a sign-in with no email typed, and the cookie value its challenge is bound to. */
  loginOptions(): Promise<{ options: unknown; binding: string; maxAgeSeconds: number }>;
  /** Verifies a sign-in assertion; PASSKEY_INVALID for any failure, PASSKEY_CHALLENGE_EXPIRED for a stale challenge. */
  verifyLogin(input: { response: unknown; binding: string | undefined }): Promise<PasskeyProof>;
  list(userId: string): Promise<PasskeyRecord[]>;
  rename(userId: string, id: string, name: string): Promise<PasskeyRecord>;
  remove(userId: string, id: string): Promise<PasskeyRecord>;
}

export interface PasskeysDeps {
  readonly store: PasskeysStore;
  readonly challenges: WebAuthnChallengesStore;
  readonly users: UsersStore;
  readonly rpId: string;
  readonly rpName: string;
  readonly origins: readonly string[];
  readonly logger: Logger;
  /** Called when a refused assertion looks like a cloned authenticator (its counter did not grow). */
  readonly onClonedAuthenticator: (passkey: PasskeyRecord) => Promise<void>;
  readonly now: () => number;
}

const invalid = (): GatewayError => new GatewayError(ErrorCode.PASSKEY_INVALID);
const expired = (): GatewayError => new GatewayError(ErrorCode.PASSKEY_CHALLENGE_EXPIRED);
const bindingHash = (binding: string): string => createHash('sha256').update(binding, 'utf8').digest('base64url');

/** The challenge the browser signed, read from clientDataJSON without trusting anything else in it yet. */
function signedChallenge(response: unknown): string {
  const clientDataJSON = (response as { response?: { clientDataJSON?: unknown } } | null)?.response?.clientDataJSON;
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > MAX_RESPONSE_FIELD_LENGTH) throw invalid();
  try {
    const challenge = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    if (typeof challenge !== 'string' || challenge.length > 256) throw invalid();
    return challenge;
  } catch {
    throw invalid();
  }
}

function passkeyName(name: string | undefined, fallback: string): string {
  const trimmed = (name ?? '').trim();
  if (trimmed.length > MAX_NAME_LENGTH) throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'name', detail: `At most ${MAX_NAME_LENGTH} characters.` });
  return trimmed === '' ? fallback : trimmed;
}

export function createPasskeys(deps: PasskeysDeps): Passkeys {
  const { store, challenges, users, rpId, logger, now } = deps;
  const origins = [...deps.origins];

  /** The one live, unspent challenge of this purpose that the response signed. */
  async function takeChallenge(response: unknown, purpose: WebAuthnChallengeRecord['purpose']): Promise<WebAuthnChallengeRecord> {
    const record = await challenges.find(signedChallenge(response));
    if (!record || record.purpose !== purpose) throw invalid();
    if (record.expiresAt.getTime() <= now()) throw expired();
    return record;
  }

  async function spend(record: WebAuthnChallengeRecord): Promise<void> {
    if ((await challenges.spend(record.challenge, new Date(record.expiresAt.getTime() + 3_600_000))) !== 'spent') throw invalid();
  }

  return {
    async registrationOptions(input: { user: UserRecord; sessionId: string }): Promise<unknown> {
      const existing = await store.listForUser(input.user.id);
      const options = await generateRegistrationOptions({
        rpName: deps.rpName,
        rpID: rpId,
        userName: input.user.email,
        userID: Buffer.from(input.user.id, 'utf8'),
        attestationType: 'none',
        excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports as AuthenticatorTransportFuture[] })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
        timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
      });
      await challenges.insert({
        challenge: options.challenge,
        purpose: 'registration',
        userId: input.user.id,
        sessionId: input.sessionId,
        bindingHash: null,
        expiresAt: new Date(now() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000),
      });
      return options;
    },

    async register(input: { user: UserRecord; sessionId: string; response: unknown; name: string | undefined }): Promise<PasskeyRecord> {
      const name = passkeyName(input.name, 'Passkey');
      const record = await takeChallenge(input.response, 'registration');
      // A challenge asked for by another session (or account) is no challenge for this one.
      if (record.sessionId !== input.sessionId || record.userId !== input.user.id) throw invalid();
      await spend(record);
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response: input.response as RegistrationResponseJSON,
          expectedChallenge: record.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: true,
        });
      } catch (error) {
        logger.info({ reason: (error as Error).message }, 'passkey registration refused');
        throw invalid();
      }
      if (!verification.verified) throw invalid();
      const info = verification.registrationInfo;
      const passkey: PasskeyRecord = {
        id: randomId(),
        userId: input.user.id,
        credentialId: info.credential.id,
        publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name,
        createdAt: new Date(now()),
        lastUsedAt: null,
      };
      if ((await store.insert(passkey)) === 'taken') throw invalid();
      return passkey;
    },

    async loginOptions(): Promise<{ options: unknown; binding: string; maxAgeSeconds: number }> {
      // Discoverable credentials: no allowCredentials, so nothing here tells who has an account.
      const options = await generateAuthenticationOptions({ rpID: rpId, userVerification: 'required', timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000 });
      const binding = randomBytes(32).toString('base64url');
      await challenges.insert({
        challenge: options.challenge,
        purpose: 'sign-in',
        userId: null,
        sessionId: null,
        bindingHash: bindingHash(binding),
        expiresAt: new Date(now() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000),
      });
      return { options, binding, maxAgeSeconds: PASSKEY_CHALLENGE_TTL_SECONDS };
    },

    async verifyLogin(input: { response: unknown; binding: string | undefined }): Promise<PasskeyProof> {
      const record = await takeChallenge(input.response, 'sign-in');
      // Bound to the browser that asked: a challenge lifted from another browser does not come with its cookie.
      if (input.binding === undefined || record.bindingHash !== bindingHash(input.binding)) throw invalid();
      await spend(record);
      const response = input.response as AuthenticationResponseJSON;
      if (typeof response.id !== 'string' || response.id.length > 1024) throw invalid();
      const passkey = await store.findByCredentialId(response.id);
      if (!passkey) throw invalid();
      // The authenticator names its account (user handle): it must be the passkey's own.
      const userHandle = response.response?.userHandle;
      if (typeof userHandle === 'string' && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.userId) throw invalid();
      const user = await users.findById(passkey.userId);
      if (!user || user.disabled) throw invalid();
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge: record.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: passkey.counter },
          requireUserVerification: true,
        });
      } catch (error) {
        const message = (error as Error).message;
        // SimpleWebAuthn refuses a non-zero counter that did not grow: a sign of a cloned authenticator.
        if (/counter/i.test(message)) {
          logger.warn({ userId: passkey.userId, passkeyId: passkey.id }, 'passkey signature counter did not grow: possibly a cloned authenticator; refused');
          await deps.onClonedAuthenticator(passkey);
        } else {
          logger.info({ reason: message }, 'passkey sign-in refused');
        }
        throw invalid();
      }
      const info = verification.authenticationInfo;
      if (!verification.verified || !info.userVerified) throw invalid();
      await store.recordUse(passkey.id, info.newCounter, new Date(now()));
      const kind = info.credentialDeviceType === 'singleDevice' ? 'hwk' : 'swk';
      return { user, passkey, amr: [kind, 'user', 'mfa'] };
    },

    list: (userId: string): Promise<PasskeyRecord[]> => store.listForUser(userId),

    async rename(userId: string, id: string, name: string): Promise<PasskeyRecord> {
      const newName = passkeyName(name, 'Passkey');
      if (!(await store.rename(userId, id, newName))) throw new GatewayError(ErrorCode.NOT_FOUND, { field: 'id', detail: 'No such passkey.' });
      const found = (await store.listForUser(userId)).find((passkey) => passkey.id === id);
      if (!found) throw new GatewayError(ErrorCode.NOT_FOUND, { field: 'id', detail: 'No such passkey.' });
      return found;
    },

    async remove(userId: string, id: string): Promise<PasskeyRecord> {
      const found = (await store.listForUser(userId)).find((passkey) => passkey.id === id);
      if (!found || !(await store.remove(userId, id))) throw new GatewayError(ErrorCode.NOT_FOUND, { field: 'id', detail: 'No such passkey.' });
      return found;
    },
  };
}
