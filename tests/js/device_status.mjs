// How Element's crypto stack (matrix-js-sdk's Rust crypto) judges another user's device.
// Usage: node device_status.mjs HOMESERVER USER PASSWORD OTHER_USER OTHER_DEVICE
// Logs in as USER with a fresh device, syncs like Element (an encrypted room shared with
// OTHER_USER makes its keys tracked), and prints one JSON line with the verdict.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");
const [baseUrl, user, password, other, otherDevice] = process.argv.slice(2);
const login = await sdk.createClient({ baseUrl }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password,
});
const client = sdk.createClient({
  baseUrl,
  userId: login.user_id,
  deviceId: login.device_id,
  accessToken: login.access_token,
});
await client.initRustCrypto({ useIndexedDB: false });
const crypto = client.getCrypto();
const synced = new Promise((resolve) => client.once(sdk.ClientEvent.Sync, resolve));
await client.startClient({ initialSyncLimit: 1 });
await synced;
// The key query runs in the background after the first sync: wait up to 20 s for it.
let status = null;
for (let i = 0; i < 100 && status === null; i++) {
  status = await crypto.getDeviceVerificationStatus(other, otherDevice);
  if (status === null) await new Promise((resolve) => setTimeout(resolve, 200));
}
const identity = await crypto.getUserVerificationStatus(other);
console.log(
  JSON.stringify({
    known: status !== null,
    signedByOwner: status?.signedByOwner ?? false,
    crossSigningVerified: status?.crossSigningVerified ?? false,
    identityVerified: identity.isCrossSigningVerified(),
  }),
);
client.stopClient();
await client.logout(true).catch(() => {});
process.exit(0);
