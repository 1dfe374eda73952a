import type { Logger } from '../logger.js';
import type { SigningKeysStore, StoredSigningKey } from '../stores/signing-keys.store.js';
import type { KeyEncryption } from '../tokens/key-encryption.js';
import { createKeyRing, generateSigningKey, importSigningKey, type AsymmetricAlgorithm, type KeyRing } from '../tokens/keys.js';

export interface RotationPlan {
  readonly kid: string;
  readonly publishedAt: Date;
  readonly activatesAt: Date;
  /** The keys this rotation retires, and when. */
  readonly retiring: ReadonlyArray<{ readonly kid: string; readonly retiresAt: Date }>;
}

export interface KeyManager {
  /** The ring every sign and verify uses; its contents follow the stored schedule. */
  readonly ring: KeyRing;
  /** Loads the keys (creating the first one if there is none) and keeps them current by polling. */
  start(): Promise<void>;
  stop(): void;
  /** Re-reads the stored schedule now (polling does it every POLL_MS). */
  reload(): Promise<void>;
  /** How many stored records the last load refused because their MAC did not check (see `load`). */
  refusedCount(): number;
  /**
   * Adds the next key: published now, signing after the lead time. Every key signing until then retires once
   * the last token it can sign has expired: the new key's activation plus the longest access-token lifetime
   * and the clock tolerance. Nobody is logged out and no verifier meets an unknown `kid`.
   */
  rotate(): Promise<RotationPlan>;
}

export interface KeyManagerDeps {
  readonly store: SigningKeysStore;
  readonly encryption: KeyEncryption;
  readonly algorithm: AsymmetricAlgorithm;
  readonly leadSeconds: number;
  /** Longest access-token lifetime plus clock tolerance: how long a retired signer's tokens stay valid. */
  readonly tokenReachSeconds: number;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Keys change rarely and are published a lead time ahead, so a slow poll is enough to learn of them in time. */
const POLL_MS = 30_000;

export function createKeyManager(deps: KeyManagerDeps): KeyManager {
  const { store, encryption, logger, now } = deps;
  const ring = createKeyRing([]);
  let timer: NodeJS.Timeout | undefined;

  const unreadable = new Set<string>();
  const refused = new Set<string>();
  let refusedNow = 0;

  /**
   * A record whose MAC does not check was not written by a gateway holding our secret: a key added or altered
   * by whoever can write to the database (or a record from before records were MACed). It neither verifies
   * nor is published, nor is it ever re-MACed by a rotation. Said loudly, once per kid.
   */
  function authentic(stored: readonly StoredSigningKey[]): StoredSigningKey[] {
    const kept: StoredSigningKey[] = [];
    let refusedHere = 0;
    for (const key of stored) {
      if (encryption.isAuthentic(key, key.mac)) {
        kept.push(key);
        continue;
      }
      refusedHere++;
      if (!refused.has(key.kid)) {
        refused.add(key.kid);
        logger.error(
          { kid: key.kid, generation: key.generation, reason: key.mac === null ? 'no MAC (written before records were authenticated)' : 'MAC mismatch' },
          'signing key record fails its integrity check: ignored (it neither verifies nor is published). Someone wrote to signing_keys without the gateway secret, or REFRESH_TOKEN_HASH_SECRET differs between instances.',
        );
      }
    }
    refusedNow = refusedHere;
    return kept;
  }
  /**
   * A record whose MAC checks was sealed under our secret too, so this should not fail; if it ever does, the key
   * only verifies, and if no key can sign, `start` creates one.
   */
  function openOrWarn(key: StoredSigningKey): ReturnType<KeyEncryption['open']> | undefined {
    try {
      return encryption.open(key.kid, key.sealedPrivateJwk);
    } catch {
      if (!unreadable.has(key.kid)) logger.error({ kid: key.kid }, 'cannot decrypt this signing key (was REFRESH_TOKEN_HASH_SECRET changed?); it verifies only');
      unreadable.add(key.kid);
      return undefined;
    }
  }

  /**
   * Loads the authentic part of the stored schedule into the ring. Returns every stored record, refused ones
   * included: the next generation number must be above all of them for its unique insert to succeed.
   */
  async function load(): Promise<StoredSigningKey[]> {
    const stored = await store.list();
    ring.replace(
      await Promise.all(
        authentic(stored).map((key) =>
          importSigningKey({
            kid: key.kid,
            alg: key.alg,
            publicJwk: key.publicJwk,
            privateJwk: openOrWarn(key),
            publishedAt: key.publishedAt.getTime(),
            activatesAt: key.activatesAt.getTime(),
            retiresAt: key.retiresAt?.getTime() ?? null,
          }),
        ),
      ),
    );
    return stored;
  }

  async function reload(): Promise<void> {
    await load();
  }

  /**
   * `basis` is the schedule the caller decided on. The generation comes from it, not from a later read: two
   * instances that decided on the same schedule then claim the same generation, and exactly one inserts.
   */
  async function addKey(leadMs: number, basis: readonly StoredSigningKey[]): Promise<StoredSigningKey | undefined> {
    const generation = basis.reduce((highest, key) => Math.max(highest, key.generation), 0) + 1;
    const { kid, publicJwk, privateJwk } = await generateSigningKey(deps.algorithm);
    // One reading of the clock, taken once the key exists: the lead is counted from its publication.
    const publishedAt = now();
    const fields = {
      kid,
      alg: deps.algorithm,
      generation,
      publicJwk,
      sealedPrivateJwk: encryption.seal(kid, privateJwk),
      publishedAt: new Date(publishedAt),
      activatesAt: new Date(publishedAt + leadMs),
      retiresAt: null,
    };
    const key: StoredSigningKey = { ...fields, mac: encryption.authenticate(fields) };
    // The unique generation decides between concurrent rotations (or first starts of several instances).
    return (await store.insert(key)) === 'inserted' ? key : undefined;
  }

  /** Every other key stops verifying once the last token it can still sign has expired. */
  async function retireOthers(created: StoredSigningKey): Promise<Array<{ kid: string; retiresAt: Date }>> {
    const retiresAt = new Date(created.activatesAt.getTime() + deps.tokenReachSeconds * 1000);
    const retiring: Array<{ kid: string; retiresAt: Date }> = [];
    // Only authentic records are re-MACed: a forged one must never come out of a rotation looking genuine.
    for (const key of authentic(await store.list())) {
      if (key.kid === created.kid || (key.retiresAt !== null && key.retiresAt <= retiresAt)) continue;
      await store.retire(key.kid, retiresAt, encryption.authenticate({ ...key, retiresAt }));
      retiring.push({ kid: key.kid, retiresAt });
    }
    return retiring;
  }

  function hasSigner(at: number): boolean {
    try {
      ring.current(at);
      return true;
    } catch {
      return false;
    }
  }

  return {
    ring,
    async start(): Promise<void> {
      const stored = await load();
      if (!hasSigner(now())) {
        // First start, every key retired, or no key this instance can decrypt: a key that signs at once. Others
        // are left as they are: an instance with a wrong secret must not retire keys the rest still sign with;
        // every instance verifies its new key through the public half all the same.
        const created = await addKey(0, stored);
        if (created) logger.warn({ kid: created.kid, alg: created.alg }, 'no signing key was active here: created one');
        await reload();
      }
      const poll = (): void => {
        timer = setTimeout(() => {
          reload()
            .catch((error: unknown) => logger.error({ err: error }, 'could not reload signing keys; keeping the ones loaded'))
            .finally(poll);
        }, POLL_MS);
        timer.unref();
      };
      poll();
    },
    stop(): void {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
    reload,
    refusedCount: (): number => refusedNow,
    async rotate(): Promise<RotationPlan> {
      const stored = await load();
      const created = await addKey(deps.leadSeconds * 1000, stored);
      if (!created) throw new Error('Another rotation inserted a key at the same moment; run keys:rotate again if you still want one.');
      const retiring = await retireOthers(created);
      await reload();
      logger.info({ kid: created.kid, activatesAt: created.activatesAt, retiring }, 'signing key rotation scheduled');
      return { kid: created.kid, publishedAt: created.publishedAt, activatesAt: created.activatesAt, retiring };
    },
  };
}
