// A Node.js member of the example chat cluster (examples/src/cluster/mod.rs),
// on the TypeScript runtime (ts/dist). It serves `member.message` and
// `member.answer`, after every connection joins ROOM (if given) and asks
// `chat.hello`, and reconnects when its connection drops (e.g. its node died:
// the proxy in front sends it to another node).
//
//   node cluster/node-client.mjs ws://127.0.0.1:8080/ NAME [ROOM]
//
// Node 22+ has a global WebSocket; on Node 20 run it with
// --experimental-websocket. Writes one JSON object per line on stdout:
//   {"hello": {"conn": "conn-3.1", "node": 3, "name": "node-a"}}
//   {"message": {"from": "conn-2.4", "text": "hi"}}
//   {"closed": {"code": 1006, "reason": ""}}

import { connect } from "../../ts/dist/index.js";

const [url, name = "node-client", room] = process.argv.slice(2);
if (!url) {
  console.error("usage: node node-client.mjs URL [NAME] [ROOM]");
  process.exit(2);
}

const out = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function session() {
  const peer = await connect(url);
  peer.handle("member.message", ["from", "text"], ([from, text]) => {
    out({ message: { from, text } });
  });
  peer.handle("member.answer", ["question"], ([question]) => `${name}: ${question}`);
  if (room) await peer.call("chat.join", [room]);
  out({ hello: await peer.call("chat.hello", []) });
  return peer;
}

let delay = 50;
for (;;) {
  let peer;
  try {
    peer = await session();
    delay = 50;
  } catch (e) {
    console.error(`${name}: ${e instanceof Error ? e.message : String(e)}; retrying in ${delay} ms`);
    await sleep(delay);
    delay = Math.min(delay * 2, 1000);
    continue;
  }
  out({ closed: await peer.closed });
}
