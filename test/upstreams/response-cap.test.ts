import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'graphql';
import type { ExecutionResult } from '@graphql-tools/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpstreamExecutor, upstreamFailureOf } from '../../src/upstreams/executor.js';

const MiB = 1024 * 1024;

/** A bare loopback upstream whose every answer is written by `answer`; `sent` counts the body bytes it got out. */
async function listen(answer: (res: ServerResponse, sent: { bytes: number }) => void): Promise<{ server: Server; url: string; sent: { bytes: number; closed: boolean } }> {
  const sent = { bytes: 0, closed: false };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.on('close', () => (sent.closed = true));
      answer(res, sent);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, sent };
}

/** Writes `total` bytes of a JSON string value, respecting backpressure, until done or the peer goes away. */
function stream(res: ServerResponse, sent: { bytes: number }, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  res.write('{"data":{"a":"');
  const more = (): void => {
    while (sent.bytes < total && !res.destroyed) {
      sent.bytes += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
    if (!res.destroyed) res.end('"}}');
  };
  more();
}

describe('upstream response size cap (UPSTREAM_MAX_RESPONSE_BYTES)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('cuts off a 100 MB chunked answer at the cap, closing the connection, as too-large', async () => {
    const upstream = await listen((res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      stream(res, sent, 100 * MiB);
    });
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: upstream.url, timeoutMs: 10_000, maxResponseBytes: MiB });
    const result = (await execute({ document: parse('{ a }') })) as ExecutionResult;
    const failure = upstreamFailureOf(result.errors?.[0]);
    expect(failure?.kind).toBe('too-large');
    expect(failure?.message).toContain('shop');
    expect(failure?.message).toContain(String(MiB));
    expect(failure?.message).not.toContain('xxxx');
    // The gateway went away: the upstream could not write on to 100 MB.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(upstream.sent.closed).toBe(true);
    expect(upstream.sent.bytes).toBeLessThan(20 * MiB);
  });

  it('refuses an announced Content-Length over the cap before reading any body (not a timeout)', async () => {
    const upstream = await listen((res) => {
      // Headers only, then silence: without the up-front check only the timeout would end it.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(100 * MiB) });
      res.flushHeaders();
    });
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: upstream.url, timeoutMs: 3000, maxResponseBytes: MiB });
    const result = (await execute({ document: parse('{ a }') })) as ExecutionResult;
    expect(upstreamFailureOf(result.errors?.[0])?.kind).toBe('too-large');
  });

  it('reads an answer of exactly the cap, multi-byte characters split across chunks intact', async () => {
    const value = 'é'.repeat(2000);
    const body = Buffer.from(JSON.stringify({ data: { a: value } }));
    const upstream = await listen((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Odd-sized pieces split the two-byte characters between chunks.
      for (let at = 0; at < body.length; at += 333) res.write(body.subarray(at, at + 333));
      res.end();
    });
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: upstream.url, timeoutMs: 3000, maxResponseBytes: body.length });
    expect(await execute({ document: parse('{ a }') })).toEqual({ data: { a: value } });
    const tighter = createUpstreamExecutor({ name: 'shop', url: upstream.url, timeoutMs: 3000, maxResponseBytes: body.length - 1 });
    expect(upstreamFailureOf(((await tighter({ document: parse('{ a }') })) as ExecutionResult).errors?.[0])?.kind).toBe('too-large');
  });
});
