import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from 'express';

/** What the HTTP server calls for each request. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * One route served without Express's router: a request for exactly `method path` (no query string) gets what
 * `app.handle` gives every request (the circular references and Express's request and response prototypes, so
 * `req.ip`, `res.append` and the app's settings work as anywhere), then runs `handlers` in order, as the router
 * would run the route's handlers, and `onError` for an error one of them passes on. Anything else goes to the app.
 *
 * Written by hand because Express has no way to skip its router for one hot route: matching every request against
 * the route list (parseurl, path-to-regexp, a `next()` per layer) cost about 6 % of the gateway's busy time at its
 * floor. The handlers, and the app, stay the reference: the same route is also registered on the app, where a
 * request with a query string still reaches it.
 */
export function withFastRoute(app: Express, route: { method: string; path: string; handlers: readonly RequestHandler[]; onError: ErrorRequestHandler; notFound: RequestHandler }): RequestListener {
  const { method, path, handlers, onError, notFound } = route;
  return (incoming, outgoing) => {
    if (incoming.method !== method || incoming.url !== path) {
      app(incoming, outgoing);
      return;
    }
    const req = incoming as Request;
    const res = outgoing as Response;
    req.res = res;
    res.req = req;
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    res.locals ??= Object.create(null) as Response['locals'];
    let index = 0;
    const next = (error?: unknown): void => {
      // As Express's router: a falsy value is no error (cors passes null). The handlers here never pass 'route'
      // or 'router' on, so anything else is an error.
      if (error) {
        onError(error, req, res, () => undefined);
        return;
      }
      const handler = handlers[index++];
      if (!handler) {
        notFound(req, res, () => undefined);
        return;
      }
      try {
        const result: unknown = handler(req, res, next);
        // Express 5 passes a rejected promise from a handler on as an error; so does this.
        if (result instanceof Promise) result.catch((rejection: unknown) => next(rejection ?? new Error('a handler rejected without a reason')));
      } catch (thrown) {
        next(thrown);
      }
    };
    next();
  };
}
