import mongoose from 'mongoose';

/**
 * The driver's ways of saying "the database cannot be reached right now", as opposed to "the database refused
 * this command". Taken from mongoose's own copy of the driver (`mongoose.mongo`): a second copy of `mongodb` in
 * node_modules has classes of its own, and `instanceof` against them would never match.
 *
 * - MongoServerSelectionError: no server answered within serverSelectionTimeoutMS (stopped, unreachable,
 *   failing over); mongoose raises its own MongooseServerSelectionError for the same at connect time.
 * - MongoNetworkError (and MongoNetworkTimeoutError, MongoPoolClearedError): the connection broke mid-command.
 * - MongoNotConnectedError, MongoTopologyClosedError: the client is not (or no longer) connected.
 * - MongoOperationTimeoutError: a client-side operation timeout ran out.
 */
const UNAVAILABLE: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  mongoose.mongo.MongoServerSelectionError,
  mongoose.mongo.MongoNetworkError,
  mongoose.mongo.MongoNotConnectedError,
  mongoose.mongo.MongoTopologyClosedError,
  mongoose.mongo.MongoOperationTimeoutError,
  mongoose.Error.MongooseServerSelectionError,
];

/** How deep to follow `cause`: a store or a library may wrap the driver's error once or twice. */
const MAX_CAUSES = 5;

/** True when `error` (or what it wraps) means the database is unreachable: the request may succeed on retry. */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSES && current instanceof Error; depth++) {
    for (const kind of UNAVAILABLE) if (current instanceof kind) return true;
    current = current.cause;
  }
  return false;
}
