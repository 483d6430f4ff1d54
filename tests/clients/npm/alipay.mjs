// Test-only: npm alipay-sdk, unmodified, against possim's simulated Alipay
// (tests/test_channel_alipay_npm.py). Reads {config, calls, notifies} as JSON on stdin;
// writes one result per call ({ok: response} or {error: message}) and one boolean per
// notification (checkNotifySignV2), as JSON on stdout.
import { AlipaySdk } from 'alipay-sdk';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { config, calls, notifies } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const sdk = new AlipaySdk(config);
const results = [];
for (const call of calls) {
  try {
    const response = await sdk.exec(call.method, { bizContent: call.bizContent },
      { validateSign: true });
    results.push({ ok: response });
  } catch (err) {
    results.push({ error: String(err && err.message) });
  }
}
const verdicts = (notifies || []).map((form) => sdk.checkNotifySignV2(form));
process.stdout.write(JSON.stringify({ results, verdicts }));
