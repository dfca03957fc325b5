// Drives the MCP TypeScript SDK's OAuth client, auth() from
// @modelcontextprotocol/sdk/client/auth.js, against a running server, for
// e2e_tssdk_test.go. The SDK module is loaded from KANBAN_TS_SDK_AUTH (a
// path to that file) so that this script needs no package.json of its own.
//
// Line protocol on stdio: the script prints one JSON line with the
// authorization URL the SDK built, reads the authorization code the person
// got (the Go test plays the browser), lets the SDK exchange it, and prints
// one JSON line with what the SDK holds.
import { createInterface } from 'node:readline';

const { auth } = await import(process.env.KANBAN_TS_SDK_AUTH);
const serverUrl = process.argv[2];
const redirectUrl = 'http://127.0.0.1:9/callback';

// An in-memory OAuthClientProvider: what a real client keeps in its store.
const held = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'TS SDK e2e',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation() { return held.client; },
  saveClientInformation(info) { held.client = info; },
  tokens() { return held.tokens; },
  saveTokens(tokens) { held.tokens = tokens; },
  redirectToAuthorization(url) { held.authorize = url.href; },
  saveCodeVerifier(verifier) { held.verifier = verifier; },
  codeVerifier() { return held.verifier; },
};

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await auth(provider, { serverUrl });
console.log(JSON.stringify({ result: first, authorize: held.authorize }));
const { value: code } = await lines.next();
const second = await auth(provider, { serverUrl, authorizationCode: code.trim() });
console.log(JSON.stringify({ result: second, client_id: held.client.client_id, scope: held.tokens.scope, access_token: held.tokens.access_token }));
process.exit(0);
