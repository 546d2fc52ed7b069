-- wrk script for the harness: every request names one of `sessions` distinct
-- session ids, spread evenly (each wrk thread starts at its own offset).
--   wrk ... -s sessions.lua -- header [sessions]   GET, id in the simpleClientSession header
--   wrk ... -s sessions.lua -- soap   [sessions]   POST of a 1 KB SOAP 1.1 envelope, id in ClientID
--   wrk ... -s sessions.lua -- cookie [sessions]   GET, id in the JSESSIONID cookie
-- done() prints one machine-readable line:
--   RESULT <requests/s> <p50 µs> <p99 µs> <errors> <requests>

local threads = 0

function setup(thread)
	thread:set("offset", threads * 7919)
	threads = threads + 1
end

local mode, sessions, counter = "header", 10000, 0
local headers = {}
local envelope_head, envelope_tail

function init(args)
	mode = args[1] or "header"
	sessions = tonumber(args[2] or "10000")
	counter = offset or 0
	if mode == "soap" then
		headers["Content-Type"] = "text/xml; charset=UTF-8"
		headers["SOAPAction"] = "urn:placeOrder"
		envelope_head = '<?xml version="1.0" encoding="UTF-8"?>'
			.. '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
			.. '<soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">'
		local body = '</syn:ClientID></soapenv:Header><soapenv:Body>'
			.. '<m0:placeOrder xmlns:m0="http://services.samples"><m0:order>'
		local item = '<m0:price>82.97</m0:price><m0:quantity>7</m0:quantity><m0:symbol>IBM</m0:symbol>'
		local tail = '</m0:order></m0:placeOrder></soapenv:Body></soapenv:Envelope>'
		-- Pad to about 1 KB with order lines.
		while #envelope_head + 12 + #body + #item + #tail <= 1024 do
			body = body .. item
		end
		envelope_tail = body .. tail
	elseif mode ~= "header" and mode ~= "cookie" then
		error("mode must be header, soap or cookie, got " .. mode)
	end
end

function request()
	counter = counter + 1
	local id = "client-" .. (counter % sessions)
	if mode == "soap" then
		return wrk.format("POST", nil, headers, envelope_head .. id .. envelope_tail)
	end
	if mode == "cookie" then
		headers["Cookie"] = "JSESSIONID=" .. id
	else
		headers["simpleClientSession"] = id
	end
	return wrk.format("GET", nil, headers)
end

function done(summary, latency, requests)
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.status + e.timeout
	io.write(string.format("RESULT %.1f %d %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99), errors, summary.requests))
end
