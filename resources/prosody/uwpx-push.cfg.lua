-- Prosody 0.12 configuration for uwpx-push-server (XEP-0357 push for UWPX).
--
-- Copy this file to /etc/prosody/conf.d/uwpx-push.cfg.lua (Debian's
-- prosody.cfg.lua ends with Include "conf.d/*.cfg.lua"), then replace:
--   example.org       your VirtualHost (the users' domain)
--   push.example.org  the push component's JID = [xmpp] component_jid in
--                     uwpx-push-server.ini (any subdomain you like; it needs
--                     no DNS record when the component runs on this machine)
--   change-me         a long random secret = [xmpp] secret in the .ini
--   5347              the component port = [xmpp] port in the .ini
-- and restart Prosody. The interop tests (tests/interop) run Prosody with
-- exactly this file, with only those names substituted.
--
-- Needs the Debian package prosody-modules (for mod_cloud_notify).

-- Global settings. They must come before any VirtualHost/Component line,
-- which is why this file is included on its own (conf.d) rather than pasted
-- into the middle of prosody.cfg.lua.

-- mod_cloud_notify comes with prosody-modules, which Debian installs here.
-- (This replaces any plugin_paths set in prosody.cfg.lua: list yours here too.)
plugin_paths = { "/usr/lib/prosody/modules" }

-- The XEP-0114 component port. uwpx-push-server connects to it from this
-- machine, so listen on loopback only: whoever reaches this port with the
-- secret can speak for the component. If uwpx-push-server runs elsewhere, add
-- that interface and firewall the port to that host.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

VirtualHost "example.org"
    -- Added to the global modules_enabled list for this host (Prosody merges
    -- a host's modules_enabled with the global one). If prosody.cfg.lua
    -- already gives this VirtualHost its own modules_enabled, add these there
    -- instead: a second modules_enabled for the same host replaces the first.
    modules_enabled = {
        -- XEP-0357: lets clients enable push and publishes to our component
        -- when a message arrives while they are offline or hibernated.
        "cloud_notify";
        -- XEP-0198 stream management (built into Prosody 0.12), recommended:
        -- a Windows app is suspended without closing its connection; smacks
        -- keeps the session "hibernated", and cloud_notify then pushes for
        -- the stanzas queued for it instead of losing them.
        "smacks";
        -- Offline storage (loaded by default; listed so removing it from the
        -- global list does not silently stop pushes for offline messages).
        "offline";
    }
    -- Never send message bodies or senders to the push service: WNS is not
    -- end-to-end encrypted and uwpx-push-server would drop them anyway.
    -- (These are mod_cloud_notify's defaults, spelled out on purpose.)
    push_notification_with_body = false
    push_notification_with_sender = false

-- The push component. uwpx-push-server logs in here with the shared secret
-- (XEP-0114 handshake) and answers the publishes of every VirtualHost above.
Component "push.example.org"
    component_secret = "change-me"
