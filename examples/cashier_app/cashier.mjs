#!/usr/bin/env node
// A cashier app's payment code, as it would call the Newland smart POS's acquiring app,
// pointed at `possim serve` instead of an Android Intent (docs/cashier_apps.md).
// No possim code here: plain Node 20 (built-in fetch), nothing to install.
//
//   node cashier.mjs sale 12.34 [--order ORDER] [--url http://127.0.0.1:8580]
//
// Prints one JSON line: {approved, result_code, extras, detail, reason}. Exit 0 approved,
// 1 not approved (cancelled or refused), 2 usage or transport error.
// POSSIM_URL and POSSIM_TOKEN (a served shop on another machine needs its token)
// replace --url and add `Authorization: Bearer`.
//
// The Intent: Newland "pos-invoke" (star-pos/APIDocument pos-invoke/index.md):
// startActivityForResult on the acquiring app's component, every extra a String;
// RESULT_OK carries `txndetail` (a JSON string), RESULT_CANCELED a `reason`.

// What possim's Newland profile answers to today (firmware_fixtures/vendors/newland.yaml).
const COMPONENT = "com.newland.pospp/.PayActivity";
// Your package name goes in appid; possim's profile today accepts only its own cashier's.
const PACKAGE = "com.possim.cashier";

function usage(message) {
  console.error(`cashier.mjs: ${message}`);
  console.error("usage: node cashier.mjs sale AMOUNT_YUAN [--order ORDER] [--url URL] [--amt RAW]");
  process.exit(2);
}

function parseArgs(argv) {
  const [command, amount, ...rest] = argv;
  if (command !== "sale") usage(`unknown command ${JSON.stringify(command)}`);
  if (!/^\d{1,8}(\.\d{1,2})?$/.test(amount ?? "")) usage(`amount ${JSON.stringify(amount)}: yuan, e.g. 12.34`);
  const options = { url: process.env.POSSIM_URL ?? "http://127.0.0.1:8580", order: null, amt: null };
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i].replace(/^--/, "");
    if (!(name in options) || rest[i + 1] === undefined) usage(`unknown option ${rest[i]}`);
    options[name] = rest[i + 1];
  }
  return { amount, ...options };
}

function stamp(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

// Yuan to the 12-digit fen possim's profile takes today.
function amt(yuan) {
  const [whole, part = ""] = yuan.split(".");
  return (Number(whole) * 100 + Number(part.padEnd(2, "0"))).toString().padStart(12, "0");
}

function saleExtras({ amount, order, amt: raw }) {
  const now = new Date();
  return {
    msg_tp: "0200",
    pay_tp: "0", // bank card
    proc_tp: "00",
    proc_cd: "000000", // sale
    amt: raw ?? amt(amount),
    order_no: order ?? `C${stamp(now)}`,
    appid: PACKAGE,
    time_stamp: stamp(now),
    print_info: "",
    orig_order_no: "",
  };
}

async function startActivityForResult(url, component, extras) {
  const headers = { "content-type": "application/json" };
  if (process.env.POSSIM_TOKEN) headers.authorization = `Bearer ${process.env.POSSIM_TOKEN}`;
  const response = await fetch(`${url}/v1/intent`, {
    method: "POST",
    headers,
    body: JSON.stringify({ component, extras }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.error}`);
  return body;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let result;
  try {
    result = await startActivityForResult(args.url, COMPONENT, saleExtras(args));
  } catch (error) {
    console.error(`cashier.mjs: ${error.message}`);
    process.exit(2);
  }
  const { result_code: code, extras } = result;
  const approved = code === "RESULT_OK";
  const detail = approved ? JSON.parse(extras.txndetail) : null;
  console.log(JSON.stringify({ approved, result_code: code, extras, detail, reason: extras.reason ?? null }));
  process.exit(approved ? 0 : 1);
}

main();
