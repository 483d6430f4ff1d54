// Test-only: wechatpay-axios-plugin, unmodified, against possim's WeChat Pay simulator.
// Reads {base_url, keys, code} on stdin; prints one JSON object of what each call got.
// Every v2 answer's sign and every v3 answer's Wechatpay-Signature (and Wechatpay-Timestamp
// within 5 minutes) are checked by the SDK itself: a bad one rejects the call.
import { Wechatpay } from 'wechatpay-axios-plugin';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const { base_url: baseURL, keys, code } = input;
const wxpay = new Wechatpay({
  mchid: keys.mch_id,
  serial: keys.merchant_serial,
  privateKey: keys.merchant_private_pem,
  certs: { [keys.public_key_id]: keys.platform_public_pem },
  secret: keys.api_key,
  baseURL: `${baseURL}/`, // the documented knob: Axios options travel with the SDK's own
});

const outcome = async (call) => {
  try {
    const { status, data } = await call();
    return { status, data };
  } catch (error) {
    if (error.response) return { status: error.response.status, data: error.response.data };
    return { error: String(error.message || error) };
  }
};

const results = {};
results.v2_micropay = await outcome(() => wxpay.v2.pay.micropay.post({
  appid: keys.appid, mch_id: keys.mch_id, body: 'Cola', out_trade_no: 'N-1', total_fee: 100,
  spbill_create_ip: '127.0.0.1', auth_code: code,
}));
results.v2_orderquery_hmac = await outcome(() => wxpay.v2.pay.orderquery.post({
  appid: keys.appid, mch_id: keys.mch_id, out_trade_no: 'N-1', sign_type: 'HMAC-SHA256',
}));
results.v3_codepay = await outcome(() => wxpay.v3.pay.transactions.codepay.post({
  appid: keys.appid, mchid: keys.mch_id, description: 'Cola', out_trade_no: 'N-2',
  amount: { total: 300, currency: 'CNY' }, payer: { auth_code: code },
  scene_info: { store_info: { out_id: 'SHOP-1' } },
}));
results.v3_query = await outcome(() => wxpay.v3.pay.transactions.outTradeNo.$out_trade_no$.get({
  params: { mchid: keys.mch_id }, out_trade_no: 'N-2',
}));
results.v3_refund = await outcome(() => wxpay.v3.refund.domestic.refunds.post({
  out_trade_no: 'N-2', out_refund_no: 'NR-2', amount: { refund: 100, total: 300, currency: 'CNY' },
}));
results.v3_close = await outcome(() => wxpay.v3.pay.transactions.outTradeNo.$out_trade_no$.close.post(
  { mchid: keys.mch_id }, { out_trade_no: 'N-2' },
));
process.stdout.write(JSON.stringify(results));
