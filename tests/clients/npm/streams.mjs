// Byte streams from the npm ESC/POS clients, for tests/test_printer_clients.py.
//
// Reads a JSON list of requests on stdin and writes a JSON list of results on
// stdout, one per request: {"hex": the ESC/POS bytes, ...what the client itself
// says the paper looks like, where it has a renderer of its own}.
import receiptline from 'receiptline';
import ReceiptPrinterEncoder from '@point-of-sale/receipt-printer-encoder';
import EscPosEncoder from 'esc-pos-encoder';
import thermal from 'node-thermal-printer';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

const clients = {
  // receiptline renders its own documents as plain text: its oracle for columns.
  receiptline: ({ doc, printer }) => ({
    hex: hex(Buffer.from(receiptline.transform(doc, { ...printer, command: 'escpos' }), 'binary')),
    text: receiptline.transform(doc, { ...printer, command: 'text' }),
  }),
  // receiptline's barcode generator: bar and space widths in dots at a module width.
  receiptline_barcode: ({ symbol }) => receiptline.barcode.generate(symbol),
  // @point-of-sale/receipt-printer-encoder: text in one of a printer model's code pages.
  receipt_printer_encoder: ({ model, codepage, text }) => {
    const encoder = new ReceiptPrinterEncoder({ language: 'esc-pos', printerModel: model });
    return { hex: hex(encoder.initialize().codepage(codepage).text(text).newline().encode()) };
  },
  // esc-pos-encoder (the ESC/POS-only predecessor, its own copy of the code pages).
  esc_pos_encoder: ({ codepage, text }) => {
    const encoder = new EscPosEncoder();
    return { hex: hex(encoder.initialize().codepage(codepage).text(text).newline().encode()) };
  },
  // node-thermal-printer (Epson type): a list of [method, ...arguments] calls.
  node_thermal_printer: ({ calls }) => {
    const printer = new thermal.printer({ type: thermal.types.EPSON, interface: 'tcp://127.0.0.1:9' });
    for (const [method, ...args] of calls) {
      printer[method](...args);
    }
    return { hex: hex(printer.getBuffer()) };
  },
};

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map(({ client, ...request }) => clients[client](request));
  process.stdout.write(JSON.stringify(results));
});
