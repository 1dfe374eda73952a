/**
 * Whether an error means the database cannot be reached right now (the request may succeed on retry), for the
 * layers above auth: graphql/ answers SERVICE_UNAVAILABLE with it and never reaches into stores/ itself. The
 * classifier stays in stores/, the one part that knows the driver's error classes.
 */
export { isDatabaseUnavailable } from '../stores/unavailable.js';
