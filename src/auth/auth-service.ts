import { ErrorCode, GatewayError, type TokenRejection } from '../errors.js';
import type { AccessTokens, IssuedAccessToken } from '../tokens/access-token.js';
import { randomId } from '../tokens/ids.js';
import { generateRefreshToken, type RefreshTokenHasher } from '../tokens/refresh-token.js';
import type { RefreshTokensStore } from '../stores/refresh-tokens.store.js';
import { EmailTakenError, type UserRecord, type UsersStore } from '../stores/users.store.js';
import { checkEmail, checkNewPassword, checkPasswordForSignIn } from './credentials.js';
import type { PasswordHasher } from './password.js';
import { Role } from './roles.js';

/** Who is calling, as far as the access token says. Built on every request without a database read. */
export type Viewer =
  | { readonly kind: 'guest' }
  | { readonly kind: 'rejected'; readonly reason: TokenRejection }
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly sessionId: string;
      readonly tokenId: string;
      readonly roles: readonly string[];
      readonly expiresAt: number;
    };

/** What the transport may record about the client, for the session list. Never used for decisions here. */
export interface ClientInfo {
  readonly userAgent: string | null;
  readonly address: string | null;
}

export interface SignInResult {
  readonly user: UserRecord;
  readonly sessionId: string;
  readonly accessToken: IssuedAccessToken;
  readonly refreshToken: string;
  readonly refreshTokenExpiresAt: Date;
}

export interface AuthService {
  signIn(input: { email: string; password: string; client: ClientInfo }): Promise<SignInResult>;
  /**
   * Creates an account when sign-up is enabled. It answers the same whether or not the email is taken (the
   * caller then signs in), so sign-up cannot be used to find out who has an account.
   */
  signUp(input: { email: string; password: string }): Promise<void>;
  /** For the CLI and administrators: unlike signUp it reports a taken email. */
  createUser(input: { email: string; password: string; roles: readonly Role[] }): Promise<UserRecord>;
  authenticate(accessToken: string | undefined): Promise<Viewer>;
  getUser(userId: string): Promise<UserRecord | null>;
  listUsers(options: { limit: number }): Promise<UserRecord[]>;
}

export interface AuthServiceDeps {
  readonly users: UsersStore;
  readonly refreshTokens: RefreshTokensStore;
  readonly passwords: PasswordHasher;
  readonly accessTokens: AccessTokens;
  readonly refreshTokenHasher: RefreshTokenHasher;
  readonly refreshTokenTtlSeconds: number;
  readonly sessionMaxAgeSeconds: number;
  readonly signUpEnabled: boolean;
  readonly now: () => number;
}

const GUEST: Viewer = Object.freeze({ kind: 'guest' });

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const { users, refreshTokens, passwords, accessTokens, refreshTokenHasher, now } = deps;

  async function signIn(input: { email: string; password: string; client: ClientInfo }): Promise<SignInResult> {
    const email = checkEmail(input.email);
    checkPasswordForSignIn(input.password);
    const found = await users.findWithPasswordHash(email);
    // Unknown email and wrong password take one argon2 verify each and end in one error: neither the answer
    // nor its timing tells an attacker which accounts exist.
    const valid = found ? await passwords.verify(found.passwordHash, input.password) : await passwords.verifyNothing(input.password);
    if (!found || !valid) throw new GatewayError(ErrorCode.INVALID_CREDENTIALS);
    return startSession(found.user, input.client);
  }

  async function startSession(user: UserRecord, client: ClientInfo): Promise<SignInResult> {
    const startedAt = now();
    const sessionId = randomId();
    const sessionExpiresAt = new Date(startedAt + deps.sessionMaxAgeSeconds * 1000);
    const refreshTokenExpiresAt = new Date(Math.min(startedAt + deps.refreshTokenTtlSeconds * 1000, sessionExpiresAt.getTime()));
    const refreshToken = generateRefreshToken();
    await refreshTokens.insert({
      tokenHash: refreshTokenHasher.hash(refreshToken),
      sessionId,
      userId: user.id,
      expiresAt: refreshTokenExpiresAt,
      sessionExpiresAt,
      createdAt: new Date(startedAt),
      userAgent: client.userAgent,
      clientAddress: client.address,
    });
    const accessToken = await accessTokens.issue({
      userId: user.id,
      sessionId,
      roles: user.roles,
      notAfter: Math.floor(sessionExpiresAt.getTime() / 1000),
    });
    return { user, sessionId, accessToken, refreshToken, refreshTokenExpiresAt };
  }

  async function signUp(input: { email: string; password: string }): Promise<void> {
    if (!deps.signUpEnabled) throw new GatewayError(ErrorCode.SIGNUP_DISABLED);
    const email = checkEmail(input.email);
    checkNewPassword(input.password);
    // Hash before looking: a taken email costs the same time as a new one.
    const passwordHash = await passwords.hash(input.password);
    try {
      await users.create({ email, passwordHash, roles: [Role.USER] });
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
    }
  }

  async function createUser(input: { email: string; password: string; roles: readonly Role[] }): Promise<UserRecord> {
    const email = checkEmail(input.email);
    checkNewPassword(input.password);
    const passwordHash = await passwords.hash(input.password);
    return users.create({ email, passwordHash, roles: input.roles.length > 0 ? input.roles : [Role.USER] });
  }

  async function authenticate(accessToken: string | undefined): Promise<Viewer> {
    if (accessToken === undefined) return GUEST;
    const result = await accessTokens.verify(accessToken);
    if (!result.ok) return { kind: 'rejected', reason: result.reason };
    const { claims } = result;
    return {
      kind: 'user',
      userId: claims.userId,
      sessionId: claims.sessionId,
      tokenId: claims.tokenId,
      roles: claims.roles,
      expiresAt: claims.expiresAt,
    };
  }

  return {
    signIn,
    signUp,
    createUser,
    authenticate,
    getUser: (userId: string): Promise<UserRecord | null> => users.findById(userId),
    listUsers: (options: { limit: number }): Promise<UserRecord[]> => users.list(options),
  };
}
