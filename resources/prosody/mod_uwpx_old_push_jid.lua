-- mod_uwpx_old_push_jid: XEP-0357 publishes addressed to the push JID of the
-- earlier UWPX push servers reach uwpx-push-server's component, and its
-- answers go back as if the old JID had sent them (docs/migration.md).
--
-- The C++ and Python push servers handed out a user account's JID
-- (push@xmpp.uwpx.org) as push_bare_jid. UWPX never re-enables push with a
-- new JID on its own, so the users' XMPP servers go on publishing to the old
-- JID after the switch. Load this module on the VirtualHost of that account:
--
--   VirtualHost "xmpp.uwpx.org"
--       modules_enabled = { "uwpx_old_push_jid" }
--       uwpx_old_push_jid = "push@xmpp.uwpx.org"      -- the old push_bare_jid
--       uwpx_push_component = "push.xmpp.uwpx.org"    -- [xmpp] component_jid
--
-- Only pubsub publishes to that JID are passed on; everything else addressed
-- to it (presence, messages, the old account's own PEP queries) is handled as
-- before. The publish keeps its sender, so uwpx-push-server checks the
-- sender's domain as for any other publish. Prosody 0.12.

local jid = require "util.jid";
local st = require "util.stanza";

local old_jid = jid.prep(module:get_option_string("uwpx_old_push_jid"));
local component = jid.prep(module:get_option_string("uwpx_push_component"));
if not old_jid or not component then
	module:log("error", "uwpx_old_push_jid and uwpx_push_component must both be set; not relaying");
	return;
end
if jid.host(old_jid) ~= module.host then
	module:log("error", "uwpx_old_push_jid %s is not on this host (%s); not relaying",
		old_jid, module.host);
	return;
end

local xmlns_pubsub = "http://jabber.org/protocol/pubsub";

-- Publishes passed on and not answered yet: "sender\0id" -> when it expires.
-- The component answers within 25 s; an entry older than a minute is an
-- answer that will not come. Bounded, since senders are outside parties.
local pending = {};
local pending_count = 0;
local max_pending = module:get_option_number("uwpx_old_push_jid_max_pending", 10000);
local forget_after = 60;

local function key_of(sender, id)
	return (jid.prep(sender) or sender) .. "\0" .. id;
end

local function sweep(now)
	for key, expires in pairs(pending) do
		if expires <= now then
			pending[key] = nil;
			pending_count = pending_count - 1;
		end
	end
end

-- An answer to a publish we passed on: it goes out as the old JID's.
local function take_answer(stanza)
	if stanza.name ~= "iq" or (stanza.attr.type ~= "result" and stanza.attr.type ~= "error")
		or not stanza.attr.to or not stanza.attr.id then
		return false;
	end
	local key = key_of(stanza.attr.to, stanza.attr.id);
	if not pending[key] then return false; end
	pending[key] = nil;
	pending_count = pending_count - 1;
	stanza.attr.from = old_jid;
	return true;
end

-- The component's answers: to a remote sender they leave through the
-- component host's routing, to a local one through that host's iq/host.
local hooked_hosts = {};
local function on_component_answer(event)
	local stanza = event.stanza;
	if jid.host(stanza.attr.from or "") ~= component then return; end
	local answer = st.clone(stanza);
	if not take_answer(answer) then return; end
	module:send(answer); -- from this host: s2s as the old JID's domain, or local delivery
	return true;
end
-- The component's host may be activated after this one.
local function watch_component()
	module:context(component):hook("route/remote", on_component_answer, 1000);
end
if prosody.hosts[component] then
	watch_component();
else
	module:hook_global("host-activated", function (host)
		if host == component then watch_component(); end
	end);
end

local function watch_local_host(host)
	if hooked_hosts[host] or not prosody.hosts[host] then return; end
	hooked_hosts[host] = true;
	module:context(host):hook("iq/host", on_component_answer, 1000);
end

module:hook("iq/bare", function (event)
	local stanza, origin = event.stanza, event.origin;
	if jid.bare(stanza.attr.to) ~= old_jid or stanza.attr.type ~= "set" then return; end
	local pubsub = stanza:get_child("pubsub", xmlns_pubsub);
	if not pubsub or not pubsub:get_child("publish") or not stanza.attr.from then return; end

	local now = os.time();
	if pending_count >= max_pending then sweep(now); end
	if pending_count >= max_pending then
		-- wait: the sender keeps the user's push and tries the next time.
		origin.send(st.error_reply(stanza, "wait", "resource-constraint"));
		return true;
	end
	local key = key_of(stanza.attr.from, stanza.attr.id or "");
	if not pending[key] then pending_count = pending_count + 1; end
	pending[key] = now + forget_after;
	watch_local_host(jid.host(stanza.attr.from));

	local forwarded = st.clone(stanza);
	forwarded.attr.to = component;
	-- Prosody answers itself while the component is not connected (wait,
	-- remote-server-timeout): that answer, too, must come from the old JID.
	local relay_origin = setmetatable({
		send = function (reply)
			local answer = st.clone(reply);
			if not take_answer(answer) then answer = reply; end
			return origin.send(answer);
		end;
	}, { __index = origin });
	module:send(forwarded, relay_origin);
	return true;
end, 100);

module:log("info", "passing XEP-0357 publishes for %s on to %s", old_jid, component);
