// Runs the graphql-http audit suite (GraphQL-over-HTTP spec conformance) against a server.
// Usage: node audit-graphql-http.mjs <url> [<header name>: <value> ...]
// Prints one JSON document: every audit with its requirement level, status and reason.
import { auditServer } from 'graphql-http';

const [url, ...headerArgs] = process.argv.slice(2);
if (!url) {
  console.error('usage: node audit-graphql-http.mjs <url> [<header>: <value> ...]');
  process.exit(2);
}
const extraHeaders = Object.fromEntries(
  headerArgs.map((arg) => {
    const at = arg.indexOf(':');
    return [arg.slice(0, at).trim(), arg.slice(at + 1).trim()];
  }),
);

// Every audit request goes through here, so the extra headers (a credential) ride along.
async function fetchWithHeaders(input, init = {}) {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithHeaders });
const report = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.response = {
      status: result.response.status,
      contentType: result.response.headers.get('content-type'),
      body: await result.response.text().catch(() => '<body already read>'),
    };
  }
  report.push(entry);
}
console.log(JSON.stringify(report));
