// Zeq's receiver (seeds/000): Express parses the JSON body, and the signature
// is checked over JSON.stringify(req.body), as the document's example does.
const express = require('express');
const crypto = require('crypto');

const secret = process.env.WEBHOOK_SECRET;
const seen = new Set();
const app = express();
app.use(express.json());

function verifyWebhookSignature(payload, signature, key) {
  const expected = crypto.createHmac('sha256', key).update(payload).digest('hex');
  const given = Buffer.from(String(signature || '').replace('sha256=', ''));
  const want = Buffer.from(expected);
  return given.length === want.length && crypto.timingSafeEqual(given, want);
}

app.post('/webhook/zeq', (req, res) => {
  const signature = req.headers['x-zeq-signature'];
  const payload = JSON.stringify(req.body);
  if (!verifyWebhookSignature(payload, signature, secret)) {
    return res.status(401).json({ error: 'Invalid signature' });
  }
  const { event, computation_id, timestamp, delivery_attempt, data } = req.body;
  if (typeof event !== 'string' || typeof computation_id !== 'string' || typeof timestamp !== 'number' ||
      typeof delivery_attempt !== 'number' || typeof data !== 'object') {
    return res.status(400).json({ error: 'Not a Zeq webhook' });
  }
  const deliveryId = req.headers['x-zeq-delivery-id'];
  if (!deliveryId) return res.status(400).json({ error: 'No X-Zeq-Delivery-ID' });
  if (seen.has(deliveryId)) return res.status(200).json({ success: true, duplicate: true });
  seen.add(deliveryId);
  res.status(200).json({ success: true });
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
