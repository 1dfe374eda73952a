import type { TestProject } from 'vitest/node';
import { buildPlayground } from '../../scripts/playground-build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongodbUri: string;
  }
}

/**
 * One database server for the whole run: MONGODB_URI when set (CI here sets it to FerretDB), otherwise an
 * embedded mongod from mongodb-memory-server, which downloads mongod on first use on a connected machine.
 * Every test file then works in a database of its own on that server.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The playground tests serve playground/dist: built once here, before any test file runs (a no-op when it
  // matches its sources), so parallel test files never build it at the same time.
  await buildPlayground();
  const configured = process.env['MONGODB_URI'];
  if (configured) {
    project.provide('mongodbUri', configured);
    return async () => {};
  }
  const { MongoMemoryServer } = await import('mongodb-memory-server');
  const server = await MongoMemoryServer.create();
  project.provide('mongodbUri', server.getUri());
  return async () => {
    await server.stop();
  };
}
