import { registerEnumType } from 'type-graphql';

export enum TokenDelivery {
  COOKIE = 'COOKIE',
  BODY = 'BODY',
}

registerEnumType(TokenDelivery, {
  name: 'TokenDelivery',
  description: 'How a new session reaches the client.',
  valuesConfig: {
    COOKIE: { description: 'HttpOnly cookies (browsers). The tokens are not in the response body.' },
    BODY: {
      description:
        'In the response body, for clients that cannot hold cookies (mobile apps, services). Send the access token as `Authorization: Bearer`. No cookies are set.',
    },
  },
});
