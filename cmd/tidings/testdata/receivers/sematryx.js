// Sematryx's receiver (seeds/002): the document's Node example signs
// JSON.stringify(payload) of the parsed body.
const express = require('express');
const crypto = require('crypto');

const secret = process.env.WEBHOOK_SECRET;
const app = express();
app.use(express.json());

function verifyWebhookSignature(payload, signature, key) {
  const hmac = crypto.createHmac('sha256', key);
  hmac.update(JSON.stringify(payload));
  const expected = Buffer.from(hmac.digest('hex'));
  const given = Buffer.from(String(signature || ''));
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

app.post('/webhooks/sematryx', (req, res) => {
  if (!verifyWebhookSignature(req.body, req.headers['x-sematryx-signature'], secret)) {
    return res.status(401).send('Invalid signature');
  }
  const { id, type, created_at, data } = req.body;
  if (typeof id !== 'string' || typeof type !== 'string' || isNaN(Date.parse(created_at)) || typeof data !== 'object') {
    return res.status(400).send('Not a Sematryx webhook');
  }
  res.status(200).send('ok');
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
