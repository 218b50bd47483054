// A subscriber built on the `graphql-ws` npm package (not our code): prints each deliveryEvents
// result as a JSON line, "READY" once the server acknowledged, and exits after COUNT events.
// usage: node subscribe-graphql-ws.mjs <ws url> <api key> <count>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, apiKey, count] = process.argv.slice(2);
const wanted = Number(count);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { 'X-API-Key': apiKey },
  retryAttempts: 0,
  on: { connected: () => console.log('READY') },
});
let seen = 0;
const timer = setTimeout(() => { console.error(`timed out after ${seen} events`); process.exit(2); }, 60000);
client.subscribe(
  { query: 'subscription { deliveryEvents { cursor messageId status } }' },
  {
    next: (result) => {
      console.log(JSON.stringify(result));
      seen += 1;
      if (seen >= wanted) { clearTimeout(timer); client.dispose(); process.exit(0); }
    },
    error: (error) => { console.error(JSON.stringify(error)); process.exit(1); },
    complete: () => {},
  },
);
