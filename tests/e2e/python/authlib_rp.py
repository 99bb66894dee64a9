"""A relying party built on authlib, driven line by line over stdin/stdout by the
Node test that plays the browser part.

    argv: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_URI ALG
    -> AUTHORIZE <url>      the browser should open this
    <- CALLBACK <url>       where the browser was sent back to
    -> LOGOUT <url>         the browser should open this
    <- DONE <url>           where the browser ended up
    -> OK                   every check passed (any failure raises and exits non-zero)
"""

import json
import sys
import time
from urllib.parse import parse_qs, urlencode, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet


def say(line):
    print(line, flush=True)


def hear(prefix):
    line = sys.stdin.readline().strip()
    if not line.startswith(prefix + " "):
        raise SystemExit(f"expected {prefix}, got {line!r}")
    return line[len(prefix) + 1:]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    issuer, client_id, client_secret, redirect_uri, post_logout_uri, alg = sys.argv[1:7]
    meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    check(meta["issuer"] == issuer, "issuer in discovery")
    check(alg in meta["id_token_signing_alg_values_supported"], "algorithm advertised")

    session = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile email groups offline_access",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
    say("AUTHORIZE " + url)

    callback = hear("CALLBACK")
    query = parse_qs(urlparse(callback).query)
    check(query.get("iss") == [issuer], "RFC 9207 iss in the authorization response")
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state)

    # The ID token: signature against the JWKS, then iss, aud, exp, nonce, at_hash.
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=[alg])
    check(id_token.header["alg"] == alg, "signed with the client's algorithm")
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(claims)
    check(claims["exp"] > time.time(), "not expired")
    expected_at_hash = create_half_hash(token["access_token"], alg).decode()
    check(claims["at_hash"] == expected_at_hash, f"at_hash {claims['at_hash']} != {expected_at_hash}")

    userinfo = session.get(meta["userinfo_endpoint"]).json()
    check(userinfo["sub"] == claims["sub"], "userinfo subject")
    check(userinfo["email"] == "admin@example.org", "userinfo email")

    old_refresh = token["refresh_token"]
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    check(refreshed["refresh_token"] != old_refresh, "refresh token rotated")
    new_access = refreshed["access_token"]

    intro = session.introspect_token(meta["introspection_endpoint"], token=new_access).json()
    check(intro["active"] is True, "fresh access token is active")
    revoked = session.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    check(revoked.status_code == 200, "revocation accepted")
    intro = session.introspect_token(meta["introspection_endpoint"], token=new_access).json()
    check(intro == {"active": False}, f"after revocation introspection says inactive: {json.dumps(intro)}")

    say("LOGOUT " + meta["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": post_logout_uri,
        "state": "authlib-bye",
    }))
    final = hear("DONE")
    check(final.startswith(post_logout_uri), f"back at the registered URI: {final}")
    check(parse_qs(urlparse(final).query).get("state") == ["authlib-bye"], "logout state returned")
    say("OK")


if __name__ == "__main__":
    main()
