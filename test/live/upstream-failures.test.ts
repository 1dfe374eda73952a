/** An upstream that fails while the gateway is still connecting to it, against a real gateway and real clients. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { eventually } from '../gateway/support.js';
import { liveClient, subscribe } from './support.js';

const SDL = `directive @public on FIELD_DEFINITION
type Query { ping: String @public }
type Subscription { ticks: Int! @public }
`;

/**
 * Serves its SDL over HTTP, and takes WebSocket connections without ever acknowledging them: each waits, holding
 * its `connection_init`, until the test drops it.
 */
async function startStalledUpstream(): Promise<{ url: string; held: WebSocket[]; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const data = body.includes('_service') ? { _service: { sdl: SDL } } : { ping: 'pong' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
    });
  });
  const held: WebSocket[] = [];
  const wss = new WebSocketServer({ server, path: '/graphql', handleProtocols: () => 'graphql-transport-ws' });
  wss.on('connection', (socket) => socket.once('message', () => held.push(socket)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    held,
    async close(): Promise<void> {
      for (const socket of wss.clients) socket.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('an upstream that fails while its subscription connection is being set up', () => {
  let upstream: Awaited<ReturnType<typeof startStalledUpstream>>;
  let gateway: TestGateway;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  beforeAll(async () => {
    upstream = await startStalledUpstream();
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `stalled=${upstream.url}` }) });
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
    process.on('unhandledRejection', onUnhandled);
  }, 60_000);
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await gateway?.stop();
    await upstream?.close();
  });

  it('leaves no promise rejected unhandled (which ends a gateway process) when the client leaves first', async () => {
    const live = liveClient(gateway.url);
    const ticks = subscribe(live, 'subscription { ticks }');
    await eventually(() => upstream.held.length === 1);
    // The client goes while the gateway still waits for the upstream's acknowledgement; then the upstream fails
    // the connection. graphql-ws's dispose() rejects with that close event.
    ticks.stop();
    await live.dispose();
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const socket of upstream.held) socket.close(4400, 'refused');
    await eventually(() => upstream.held.every((socket) => socket.readyState === WebSocket.CLOSED));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(unhandled.map((reason) => String((reason as { code?: unknown }).code ?? reason))).toEqual([]);

    // And the gateway goes on serving.
    const answer = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ ping }' }) });
    expect(await answer.json()).toEqual({ data: { ping: 'pong' } });
  });
});
