#!/usr/bin/env node
// A cashier app's payment code, as it would call a smart POS's acquiring app, pointed at
// `possim serve` instead of an Android Intent (docs/cashier_apps.md).
// No possim code here: plain Node 20 (built-in fetch), nothing to install.
//
//   node cashier.mjs sale 12.34 [--vendor newland|sunmi] [--order ORDER] [--url URL] [--amt RAW]
//
// Prints one JSON line: {approved, vendor, result_code | broadcast, extras, detail, reason}.
// Exit 0 approved, 1 not approved (cancelled or refused), 2 usage or transport error.
// POSSIM_URL and POSSIM_TOKEN (a served shop on another machine needs its token)
// replace --url and add `Authorization: Bearer`. --amt sends that amount extra as given
// (to see the vendor refuse an amount in the wrong unit).
//
// Each vendor's Intent as its documents give it (docs/vendor_newland.md, docs/vendor_sunmi.md):
//
// Newland 星POS "pos-invoke" (star-pos/APIDocument pos-invoke/index.md): an explicit Intent
// to the acquiring app's MainActivity, startActivityForResult, every extra a String, the
// amount `amt` in yuan with a decimal point ("100.01"); RESULT_OK carries `txndetail` (a
// JSON string), RESULT_CANCELED a `reason`.
//
// Sunmi L3 (the sunmi-export-api-demo calling app): an implicit Intent, action
// sunmi.payment.L3, started with startActivity; typed extras (int transType and
// paymentType, long `amount` in fen, String appId and transId); the answer is the
// broadcast sunmi.payment.L3.RESULT with an int resultCode (0: success).

// Your package name: Newland's appid, Sunmi's appId.
const PACKAGE = "com.possim.cashier";

const VENDORS = {
  newland: {
    address: { component: "com.newland.caishen/com.newland.caishen.ui.activity.MainActivity" },
    saleExtras: ({ amount, order, amt, now }) => ({
      msg_tp: "0200",
      pay_tp: "0", // bank card
      proc_tp: "00",
      proc_cd: "000000", // 消费 (sale)
      amt: amt ?? yuan(amount),
      order_no: order,
      appid: PACKAGE,
      time_stamp: stamp(now),
      print_info: "",
    }),
    read: ({ result_code: code, extras }) => {
      const approved = code === "RESULT_OK";
      return { approved, detail: approved ? JSON.parse(extras.txndetail) : null, reason: extras.reason ?? null };
    },
  },
  sunmi: {
    address: { action: "sunmi.payment.L3" },
    saleExtras: ({ amount, order, amt }) => ({
      transType: 0, // 消费 (int)
      paymentType: 0, // bank card (int)
      amount: amt === null ? fen(amount) : Number(amt), // long, in fen
      transId: order,
      appId: PACKAGE,
      isPrintTicket: true,
    }),
    read: ({ broadcast, extras }) => {
      const approved = broadcast === "sunmi.payment.L3.RESULT" && extras.resultCode === 0;
      return { approved, detail: approved ? extras : null, reason: extras.errorMsg ?? null };
    },
  },
};

function usage(message) {
  console.error(`cashier.mjs: ${message}`);
  console.error(
    "usage: node cashier.mjs sale AMOUNT_YUAN [--vendor newland|sunmi] [--order ORDER] [--url URL] [--amt RAW]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const [command, amount, ...rest] = argv;
  if (command !== "sale") usage(`unknown command ${JSON.stringify(command)}`);
  if (!/^\d{1,8}(\.\d{1,2})?$/.test(amount ?? "")) usage(`amount ${JSON.stringify(amount)}: yuan, e.g. 12.34`);
  const options = { url: process.env.POSSIM_URL ?? "http://127.0.0.1:8580", order: null, amt: null, vendor: "newland" };
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i].replace(/^--/, "");
    if (!(name in options) || rest[i + 1] === undefined) usage(`unknown option ${rest[i]}`);
    options[name] = rest[i + 1];
  }
  if (!(options.vendor in VENDORS)) usage(`vendor ${JSON.stringify(options.vendor)}: one of ${Object.keys(VENDORS)}`);
  return { amount, ...options };
}

function stamp(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

// "12.3" -> "12.30": Newland's yuan, always with a decimal point, no leading zeros.
function yuan(amount) {
  const [whole, part = ""] = amount.split(".");
  return `${Number(whole)}.${part.padEnd(2, "0")}`;
}

// "12.34" -> 1234: Sunmi's long in fen.
function fen(amount) {
  const [whole, part = ""] = amount.split(".");
  return Number(whole) * 100 + Number(part.padEnd(2, "0"));
}

async function startAcquiringApp(url, address, extras) {
  const headers = { "content-type": "application/json" };
  if (process.env.POSSIM_TOKEN) headers.authorization = `Bearer ${process.env.POSSIM_TOKEN}`;
  const response = await fetch(`${url}/v1/intent`, {
    method: "POST",
    headers,
    body: JSON.stringify({ ...address, extras }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.error}`);
  return body;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const vendor = VENDORS[args.vendor];
  const now = new Date();
  const extras = vendor.saleExtras({ ...args, order: args.order ?? `C${stamp(now)}`, now });
  let result;
  try {
    result = await startAcquiringApp(args.url, vendor.address, extras);
  } catch (error) {
    console.error(`cashier.mjs: ${error.message}`);
    process.exit(2);
  }
  const { approved, detail, reason } = vendor.read(result);
  console.log(JSON.stringify({ approved, vendor: args.vendor, ...result, detail, reason }));
  process.exit(approved ? 0 : 1);
}

main();
