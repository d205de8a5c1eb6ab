// Copyright 2026 The tokenreviewd Authors
// SPDX-License-Identifier: Apache-2.0
//
// A real OpenID Connect issuer for tests/jwt.sh: oidc-provider (from the
// npm registry, installed by .ci/run or by the test into TR_NODE_DIR)
// served over HTTPS on 127.0.0.1.  It issues RFC 9068 JWT access tokens
// through the client_credentials grant with resource indicators: the
// resource "urn:k8s:ALG:TTL[:AUD]" asks for a token signed with ALG
// (RS256 or ES256) that lives TTL seconds, for the audience AUD (default
// "kubernetes"); each client carries the email and groups put into its
// tokens (the client root has groups in Kubernetes' system: namespace,
// the client sysop the email system:admin).
//
//   node oidc-issuer.mjs keys FILE PREFIX
//       write a private JWKS with an RSA key (kid PREFIX-rsa) and an EC
//       P-256 key (kid PREFIX-ec)
//   node oidc-issuer.mjs serve KEYS CERT KEY PORT PORTFILE
//       serve https://127.0.0.1:PORT (PORT 0: any free port, written to
//       PORTFILE once listening); SIGHUP reads KEYS again (key rotation)
//   node oidc-issuer.mjs sign KEYS KID ALG CLAIMS-JSON [HEADER-KID [HEADER]]
//       print a JWT signed with the key KID of the JWKS file KEYS (or
//       with the PEM private key KEYS), for the checks the provider
//       itself would never fail (nbf, wrong key type, ...); HEADER-KID
//       replaces the kid in the header ("-": none), and the members of
//       the JSON object HEADER are added to the header (crit, ...)
//   node oidc-issuer.mjs bad CERT KEY PORT PORTFILE
//       serve the wrong answers a key fetch may meet on 127.0.0.1:PORT
//       (written to PORTFILE once listening): discovery documents under
//       /good (right), /wrongiss (names another issuer) and /plain (an
//       http jwks_uri); /jwks (a JWKS), /status500 (HTTP 500) and /huge
//       (a 64 KiB document)

import { generateKeyPairSync, createPrivateKey, sign as csign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const nodeDir = process.env.TR_NODE_DIR;

function b64url(buf) {
	return Buffer.from(buf).toString('base64url');
}

function makeKeys(file, prefix) {
	const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
	const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const keys = [
		{ ...rsa.privateKey.export({ format: 'jwk' }), kid: `${prefix}-rsa`, alg: 'RS256', use: 'sig' },
		{ ...ec.privateKey.export({ format: 'jwk' }), kid: `${prefix}-ec`, alg: 'ES256', use: 'sig' },
	];
	writeFileSync(file, JSON.stringify({ keys }), { mode: 0o600 });
}

function signToken(keysFile, kid, alg, claims, headerKid, header) {
	const text = readFileSync(keysFile, 'utf8');
	let key;
	if (text.startsWith('-----'))
		key = createPrivateKey(text);
	else {
		const jwk = JSON.parse(text).keys.find((k) => k.kid === kid);
		key = createPrivateKey({ key: jwk, format: 'jwk' });
	}
	const hkid = headerKid === undefined ? kid : headerKid;
	const hdr = hkid === '-' ? { alg, typ: 'JWT' } : { alg, kid: hkid, typ: 'JWT' };
	Object.assign(hdr, header ? JSON.parse(header) : {});
	const input = `${b64url(JSON.stringify(hdr))}.${b64url(claims)}`;
	const opts = alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key;
	const sig = csign('sha256', Buffer.from(input), opts);
	process.stdout.write(`${input}.${b64url(sig)}\n`);
}

// What each test client's tokens say about their user.
const users = {
	jane: { email: 'jane@test', email_verified: true, groups: ['dev', 'ops'] },
	bob: { email: 'bob@test', email_verified: false, groups: 'viewers' },
	root: { email: 'root@test', email_verified: true, groups: ['dev',
	    'system:masters', 'system:unauthenticated', 'system:authenticated'] },
	sysop: { email: 'system:admin', email_verified: true, groups: ['dev'] },
};

async function newProvider(issuer, keysFile) {
	const { default: Provider } = await import(pathToFileURL(
	    path.join(nodeDir, 'node_modules/oidc-provider/lib/index.js')).href);
	const jwks = JSON.parse(readFileSync(keysFile, 'utf8'));
	const clients = Object.keys(users).map((id) => ({
		client_id: id,
		client_secret: `${id}-secret`,
		grant_types: ['client_credentials'],
		redirect_uris: [],
		response_types: [],
		token_endpoint_auth_method: 'client_secret_post',
	}));
	return new Provider(issuer, {
		clients,
		jwks,
		features: {
			devInteractions: { enabled: false },
			clientCredentials: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: () => 'urn:k8s:RS256:300',
				useGrantedResource: () => true,
				getResourceServerInfo: (ctx, resource) => {
					const [, , alg, ttl, aud] = resource.split(':');
					return {
						scope: 'api',
						audience: aud || 'kubernetes',
						accessTokenTTL: Number(ttl) || 300,
						accessTokenFormat: 'jwt',
						jwt: { sign: { alg: alg || 'RS256' } },
					};
				},
			},
		},
		extraTokenClaims: (ctx, token) => users[token.clientId] || {},
	});
}

async function serve(keysFile, certFile, keyFile, port, portFile) {
	let provider = null;
	const server = https.createServer({
		cert: readFileSync(certFile),
		key: readFileSync(keyFile),
	}, (req, res) => {
		// Clients may connect before the provider is built.
		if (provider === null) {
			res.writeHead(503);
			res.end();
			return;
		}
		provider.callback()(req, res);
	});
	server.listen(Number(port), '127.0.0.1', async () => {
		const issuer = `https://127.0.0.1:${server.address().port}`;
		provider = await newProvider(issuer, keysFile);
		writeFileSync(portFile, `${server.address().port}\n`);
	});
	process.on('SIGHUP', async () => {
		const issuer = `https://127.0.0.1:${server.address().port}`;
		provider = await newProvider(issuer, keysFile);
		writeFileSync(`${portFile}.rotated`, `${Date.now()}\n`);
	});
	process.on('SIGTERM', () => process.exit(0));
}

// The wrong answers of "bad"; the JWKS is a real one, so that only the
// answer under test can make a fetch fail.
function badServe(certFile, keyFile, port, portFile) {
	const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
	const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }),
	    kid: 'bad-rsa', alg: 'RS256', use: 'sig' }] });
	const server = https.createServer({
		cert: readFileSync(certFile),
		key: readFileSync(keyFile),
	}, (req, res) => {
		const base = `https://127.0.0.1:${server.address().port}`;
		const disc = (iss, jwksUri) => JSON.stringify({ issuer: iss, jwks_uri: jwksUri });
		const wk = '/.well-known/openid-configuration';
		const answers = {
			[`/good${wk}`]: [200, disc(`${base}/good`, `${base}/jwks`)],
			[`/wrongiss${wk}`]: [200, disc(`${base}/elsewhere`, `${base}/jwks`)],
			[`/plain${wk}`]: [200, disc(`${base}/plain`, `http://127.0.0.1:${server.address().port}/jwks`)],
			'/jwks': [200, jwks],
			'/status500': [500, '{"error":"down"}'],
			'/huge': [200, `{"keys":[],"pad":"${'x'.repeat(64 * 1024)}"}`],
		};
		const [code, body] = answers[req.url] || [404, 'not found'];
		res.writeHead(code, { 'Content-Type': 'application/json' });
		res.end(body);
	});
	server.listen(Number(port), '127.0.0.1', () =>
	    writeFileSync(portFile, `${server.address().port}\n`));
	process.on('SIGTERM', () => process.exit(0));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'keys')
	makeKeys(args[0], args[1]);
else if (mode === 'sign')
	signToken(args[0], args[1], args[2], args[3], args[4], args[5]);
else if (mode === 'serve')
	await serve(...args);
else if (mode === 'bad')
	badServe(...args);
else {
	process.stderr.write('usage: oidc-issuer.mjs keys|serve|sign|bad ...\n');
	process.exit(2);
}
