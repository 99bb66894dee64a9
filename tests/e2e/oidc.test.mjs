// openid-client (npm) as the relying party, against the real binary, the user signing
// in with a passkey in Chromium: discovery → code + PKCE S256 → token → ID token
// verified with jose against the JWKS → userinfo → refresh (rotated) → revoke →
// introspection says inactive → RP-initiated logout back to the registered URI.
// Once for each signing algorithm, then client_credentials.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import * as jose from 'jose';
import { addVirtualAuthenticator, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { atHash, authorizeInBrowser, callbackServer, createClient, setupAdminWithPasskey } from './lib/rp.mjs';

describe('openid-client against Latchkey', () => {
  let latchkey;
  let browser;
  let page;
  let rp;

  before(async () => {
    [latchkey, browser, rp] = await Promise.all([startLatchkey(), launchBrowser(), callbackServer()]);
    page = await browser.newPage();
    await addVirtualAuthenticator(page);
    await setupAdminWithPasskey(page, latchkey);
    // Sign out of the setup session: every dance below starts with a passkey sign-in.
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.waitForURL(`${latchkey.url}/login`);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    assert.equal(await latchkey?.stop(), 0);
  });

  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    test(`the whole dance with an ${alg} client`, async () => {
      const registered = await createClient(latchkey, [
        '--name', `Dashboard ${alg}`,
        '--redirect-uri', `${rp.base}/cb`,
        '--post-logout-redirect-uri', `${rp.base}/signed-out`,
        '--signing-alg', alg,
      ]);
      const issuer = new URL(latchkey.url);
      const config = await client.discovery(
        issuer,
        registered.client_id,
        { client_secret: registered.client_secret, id_token_signed_response_alg: alg },
        undefined,
        { execute: [client.allowInsecureRequests] },
      );
      const meta = config.serverMetadata();
      assert.equal(meta.issuer, latchkey.url);

      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: `${rp.base}/cb`,
        scope: 'openid profile email groups offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state,
      });
      const callback = await authorizeInBrowser(page, url.href, rp.base);
      assert.equal(new URL(callback).searchParams.get('iss'), latchkey.url, 'RFC 9207 iss in the response');

      const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
        expectedState: state,
        idTokenExpected: true,
      });
      // The ID token, checked independently with jose against the published JWKS.
      const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
      const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, {
        issuer: latchkey.url,
        audience: registered.client_id,
        algorithms: [alg],
        requiredClaims: ['exp', 'iat', 'sub', 'auth_time'],
      });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(payload.nonce, nonce);
      assert.equal(payload.at_hash, atHash(tokens.access_token, alg));
      assert.equal(payload.preferred_username, 'admin');
      assert.deepEqual(payload.amr, ['hwk', 'user']);
      assert.equal(tokens.claims().sub, payload.sub);

      const info = await client.fetchUserInfo(config, tokens.access_token, payload.sub);
      assert.equal(info.email, 'admin@example.org');
      assert.equal(info.name, payload.name);

      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated');
      await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === 'invalid_grant', 'the old one is spent');

      // That reuse ended the family; a new login gives a live pair to revoke properly.
      const again = await client.authorizationCodeGrant(
        config,
        new URL(await authorizeInBrowser(page, client.buildAuthorizationUrl(config, {
          redirect_uri: `${rp.base}/cb`, scope: 'openid offline_access', state,
          code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        }).href, rp.base)),
        { pkceCodeVerifier: verifier, expectedState: state },
      );
      assert.equal((await client.tokenIntrospection(config, again.access_token)).active, true);
      await client.tokenRevocation(config, again.refresh_token);
      assert.equal((await client.tokenIntrospection(config, again.access_token)).active, false, 'revoking the refresh token ends its access tokens');
      assert.equal((await client.tokenIntrospection(config, again.refresh_token)).active, false);

      const logout = client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: `${rp.base}/signed-out`,
        state: 'bye',
      });
      await page.goto(logout.href);
      await page.waitForURL((u) => u.href.startsWith(`${rp.base}/signed-out`));
      assert.equal(new URL(page.url()).searchParams.get('state'), 'bye');
      await page.goto(`${latchkey.url}/account`);
      assert.equal(new URL(page.url()).pathname, '/login', 'the Latchkey session ended too');
    });
  }

  test('client_credentials with openid-client', async () => {
    const registered = await createClient(latchkey, ['--name', 'Backup job', '--redirect-uri', `${rp.base}/unused`, '--signing-alg', 'ES256']);
    const config = await client.discovery(new URL(latchkey.url), registered.client_id, registered.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    // Clients are registered for no scopes of their own: asking for one is refused.
    await assert.rejects(client.clientCredentialsGrant(config, { scope: 'backups:write' }), { error: 'invalid_scope' });
    const tokens = await client.clientCredentialsGrant(config);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
      issuer: latchkey.url, typ: 'at+jwt', algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.client_id, registered.client_id);
    assert.equal(payload.scope, '');
  });
});
