import type { PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import { ALLOWED_FIELDS } from "../lib/log.ts";

export const config: RouteConfig = { csp: true };

/** Every claim here must be true of the code as it stands; tests check the key ones. */
export default function Security(_props: PageProps) {
  return (
    <section class="page prose">
      <Head>
        <title>Security model · Reach</title>
        <meta
          name="description"
          content="What Reach encrypts end to end, what it does not, what it stores and what it logs."
        />
      </Head>
      <h1>Security model</h1>
      <p class="lead">
        What is end-to-end encrypted, what is not, what we store and what we
        log. No marketing: where something is not built yet, this page says so.
      </p>

      <h2 id="layers">The layers</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Layer</th>
              <th scope="col">Status today</th>
              <th scope="col">What that means</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Voice</th>
              <td>Not built yet</td>
              <td>
                This version places no calls: the Call button only says whether
                the person is reachable. Calls will use WebRTC, whose audio is
                encrypted with DTLS-SRTP keys negotiated between the two
                browsers; this page will describe it when it ships, with the
                tests that show it.
              </td>
            </tr>
            <tr>
              <th scope="row">Call signaling</th>
              <td>Not built yet</td>
              <td>No call setup data passes through Reach today.</td>
            </tr>
            <tr>
              <th scope="row">Sign-in</th>
              <td>Live</td>
              <td>
                Sign-In With Solana: your wallet (or a browser key) signs a text
                message naming this site, a one-time nonce that expires after 5
                minutes, and the time. The server checks the site, the chain,
                the time window (±10 minutes), that the nonce was never used
                before, that the address in the text is the key that signed, and
                the Ed25519 signature in strict mode. Nothing is posted on
                chain; nothing costs a fee.
              </td>
            </tr>
            <tr>
              <th scope="row">Browser key</th>
              <td>Live</td>
              <td>
                Without a wallet, your browser makes an Ed25519 key pair with
                WebCrypto. The private key is created non-extractable and kept
                in this browser's IndexedDB: no script, ours included, can read
                it out; it can only sign. Clearing site data loses it, and with
                it the account.
              </td>
            </tr>
            <tr>
              <th scope="row">Identity</th>
              <td>Stored by us, public</td>
              <td>
                Your handle and your wallet public key are stored in plain text:
                both are public (anyone can see them on your page and at
                <code>/handles/yourhandle</code>). We could be compelled to
                disclose that mapping.
              </td>
            </tr>
            <tr>
              <th scope="row">Phone numbers</th>
              <td>Not collected</td>
              <td>This version asks for no phone number and stores none.</td>
            </tr>
            <tr>
              <th scope="row">Sessions</th>
              <td>Live</td>
              <td>
                A random 256-bit id, stored server side with an expiry (7 days
                by default), sent as an <code>HttpOnly</code>,{" "}
                <code>Secure</code>, <code>SameSite=Lax</code> cookie with the
                {" "}
                <code>__Host-</code>{" "}
                prefix. Signing out deletes it. Requests that change anything
                must come from this site's own origin.
              </td>
            </tr>
            <tr>
              <th scope="row">Transport</th>
              <td>TLS (production)</td>
              <td>
                In production Reach refuses to start without an https origin and
                tells browsers to use https only (HSTS). TLS is terminated by
                the hosting platform.
              </td>
            </tr>
          </tbody>
        </table>
      </div>

      <h2 id="stored">What the server stores</h2>
      <ul>
        <li>
          Handle records: handle, wallet public key, display name, greeting,
          accent colour, created and updated times.
        </li>
        <li>Sign-in nonces: for 5 minutes, deleted when used.</li>
        <li>
          Sessions: your wallet public key and the expiry, under a random id.
        </li>
      </ul>

      <h2 id="logs">What we log, and what we never log</h2>
      <p>
        Logs are JSON lines with an event name and only these fields; the logger
        drops anything else before writing:
      </p>
      <p>
        {[...ALLOWED_FIELDS].map((f, i) => (
          <>
            {i > 0 && ", "}
            <code>{f}</code>
          </>
        ))}
      </p>
      <p>
        Request lines carry the route pattern (like{" "}
        <code>/@:handle</code>), never the address asked for, so handles do not
        appear in logs. We never log request bodies, cookies, session ids,
        signatures, IP addresses, handles or phone numbers. A test signs in,
        claims a handle and checks every log line written for them.
      </p>

      <h2 id="browser">What your browser is protected from</h2>
      <ul>
        <li>
          Pages run only Reach's own scripts, each page with a fresh nonce in
          its Content-Security-Policy. No third-party scripts, trackers or
          fonts.
        </li>
        <li>Reach cannot be framed by another site.</li>
        <li>No referrer is sent when you follow a link off Reach.</li>
        <li>
          Only Reach's own pages may ask for the microphone; camera, location
          and payment are off.
        </li>
      </ul>

      <h2 id="signal">Compared to Signal</h2>
      <p>
        Signal is the gold standard; we are not Signal. Signal hides who calls
        whom from its own servers (sealed sender) and finds contacts privately;
        Reach routes by handle, so the server knows both ends of a call, and it
        has not been independently audited. If you need Signal-grade metadata
        privacy, use Signal.
      </p>
    </section>
  );
}
