// The reference provider for bench/run: Node's OpenID-certified `oidc-provider`
// (pinned in package.json), configured as close to Latchkey as it allows:
// in-memory adapter, one confidential client with client_secret_basic,
// client_credentials with JWT access tokens, introspection, an RSA-2048 and a P-256
// key made at every start.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI.
//
// Access-token algorithm: oidc-provider picks the JWT signing alg per resource server,
// so the one client asks for `resource=urn:bench:es256` or `resource=urn:bench:rs256`
// to get an ES256- or RS256-signed token. (Latchkey picks it per client instead, so
// bench/run registers two Latchkey clients.)
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT ?? 18412);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.CLIENT_ID ?? 'bench';
const clientSecret = process.env.CLIENT_SECRET;
const redirectUri = process.env.REDIRECT_URI ?? 'http://127.0.0.1/cb';
if (!clientSecret) {
  console.error('CLIENT_SECRET is required');
  process.exit(2);
}

// Same key types as Latchkey's (RSA-2048, P-256), made fresh like a first start.
function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return {
    ...privateKey.export({ format: 'jwk' }),
    alg,
    use: 'sig',
    kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`,
  };
}
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

// One resource server per access-token algorithm.
const resourceAlgs = { 'urn:bench:es256': 'ES256', 'urn:bench:rs256': 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks,
  // Any account id exists; it has the claims a Latchkey user has.
  async findAccount(_ctx, accountId) {
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          email: `${accountId}@example.org`,
          email_verified: true,
          name: 'Bench User',
          preferred_username: accountId,
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    // Its built-in login and consent forms: bench/run signs in through them once, with
    // plain HTTP requests, to get a session for the authorization-code benchmark.
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource asked for (the authorization-code flow): an opaque access token
      // with no audience, the only kind its /me (userinfo) endpoint accepts.
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo(_ctx, resourceIndicator) {
        const alg = resourceAlgs[resourceIndicator];
        if (!alg) throw new errors.InvalidTarget();
        return {
          audience: resourceIndicator,
          scope: 'api',
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`reference provider listening on ${issuer} (pid ${process.pid})`);
});

// Exit promptly on SIGTERM so that bench/run can stop it by pid.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
