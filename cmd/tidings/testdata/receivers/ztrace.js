// Ztrace's receiver (seeds/003): the document's handler reads the raw body
// text and compares X-Ztrace-Signature with sha256= + the hex HMAC of
// `${timestamp}.${body}`. Node's own http server, no framework.
const http = require('http');
const { createHmac } = require('crypto');

const secret = process.env.WEBHOOK_SECRET;

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const signature = req.headers['x-ztrace-signature'];
    const timestamp = req.headers['x-ztrace-timestamp'];
    const expectedSig = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
    if (signature !== `sha256=${expectedSig}`) {
      res.writeHead(401);
      return res.end('Invalid signature');
    }
    let parsed;
    try { parsed = JSON.parse(body); } catch (e) { res.writeHead(400); return res.end('Bad JSON'); }
    const { event, data, timestamp: eventTime } = parsed;
    if (typeof event !== 'string' || typeof data !== 'object' || isNaN(Date.parse(eventTime))) {
      res.writeHead(400);
      return res.end('Not a Ztrace webhook');
    }
    res.writeHead(200);
    res.end('OK');
  });
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
