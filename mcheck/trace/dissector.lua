-- Wireshark / tshark dissector for mcheck trace records (pcapng, LINKTYPE_USER0 = 147).
--
-- Usage:  tshark -X lua_script:dissector.lua -r trace.pcapng -V
--         wireshark -X lua_script:dissector.lua trace.pcapng
-- The script registers itself for USER0 in the wtap_encap table, so no user_dlts
-- preference is needed. Record layout: docs/trace-format.md. Each record names its
-- profile (1 = virtio-1.4, 2 = draft-v1, 0 = other), which picks the opcode table.
-- The opcode tables mirror models/profiles/*.toml (a test keeps them in sync).

local mcheck = Proto("mcheck", "mcheck trace record")

local KINDS = {
  [0] = "header", [1] = "admin", [2] = "submit", [3] = "complete", [4] = "dma_write",
  [5] = "used_notify", [6] = "config_notify", [7] = "doorbell", [8] = "flr_begin",
  [9] = "flr_end", [10] = "member_reset", [11] = "owner_reset", [12] = "annotation",
  [13] = "pm_begin", [14] = "pm_end", [15] = "pme", [16] = "pci_read",
}
local PROFILES = { [0] = "other", [1] = "virtio-1.4", [2] = "draft-v1" }

local OPCODES = {
  [1] = {
    [0x0] = "LIST_QUERY", [0x1] = "LIST_USE", [0x2] = "LEGACY_COMMON_CFG_WRITE",
    [0x3] = "LEGACY_COMMON_CFG_READ", [0x4] = "LEGACY_DEV_CFG_WRITE", [0x5] = "LEGACY_DEV_CFG_READ",
    [0x6] = "LEGACY_NOTIFY_INFO", [0x7] = "CAP_ID_LIST_QUERY", [0x8] = "DEVICE_CAP_GET",
    [0x9] = "DRIVER_CAP_SET", [0xa] = "RESOURCE_OBJ_CREATE", [0xb] = "RESOURCE_OBJ_QUERY",
    [0xc] = "RESOURCE_OBJ_MODIFY", [0xd] = "RESOURCE_OBJ_DESTROY", [0xe] = "DEV_PARTS_METADATA_GET",
    [0xf] = "DEV_PARTS_GET", [0x10] = "DEV_PARTS_SET", [0x11] = "DEV_MODE_SET",
  },
  [2] = {
    [0x0] = "LIST_QUERY", [0x1] = "LIST_USE", [0x7F00] = "DEV_MODE_GET", [0x7F01] = "DEV_MODE_SET",
    [0x7F02] = "DEV_CTX_SIZE_GET", [0x7F03] = "DEV_CTX_READ", [0x7F04] = "DEV_CTX_WRITE",
    [0x7F05] = "DEV_CTX_FIELDS_QUERY", [0x7F06] = "DEV_CTX_DISCARD", [0x7F07] = "WR_CAPS_QUERY",
    [0x7F08] = "WR_START", [0x7F09] = "WR_STOP", [0x7F0A] = "WR_PENDING", [0x7F0B] = "WR_REPORT",
  },
}
local GROUP_TYPES = { [0] = "SELF", [1] = "SRIOV" }
local STATUS = {
  [0] = "OK", [6] = "ENXIO", [11] = "EAGAIN", [12] = "ENOMEM", [16] = "EBUSY",
  [17] = "EEXIST", [22] = "EINVAL", [28] = "ENOSPC",
}
local QUALIFIERS = {
  [0] = "OK", [1] = "INVALID_COMMAND", [2] = "INVALID_OPCODE", [3] = "INVALID_FIELD",
  [4] = "INVALID_GROUP", [5] = "INVALID_MEMBER", [6] = "NORESOURCE", [7] = "TRYAGAIN",
}
local PART_TYPES = {
  [0x100] = "DEV_FEATURES", [0x101] = "DRV_FEATURES", [0x102] = "PCI_COMMON_CFG",
  [0x103] = "DEVICE_STATUS", [0x104] = "VQ_CFG", [0x105] = "VQ_NOTIFY_CFG",
}
local DRAFT_MODES = { [0] = "ACTIVE", [1] = "STOP", [2] = "FREEZE" }
-- Command-specific output in the result status header's reserved2 (bytes 4..7 of the
-- device-writable part), per profile code: { name, offset in reserved2, size }. Mirrors the
-- `output` layouts of models/profiles/*.toml (a test keeps them in sync); every other
-- command's reserved2 is reserved and shows only when it is not zero.
local OUTPUT = {
  [2] = { ["DEV_CTX_READ"] = { { "context_len", 0, 4 } } },
}

local f = mcheck.fields
f.magic = ProtoField.string("mcheck.magic", "Magic")
f.version = ProtoField.uint8("mcheck.version", "Record version")
f.kind = ProtoField.uint8("mcheck.kind", "Event kind", base.DEC, KINDS)
f.flags = ProtoField.uint8("mcheck.flags", "Flags", base.HEX)
f.flag_writable = ProtoField.bool("mcheck.flags.writable", "Has device-writable part", 8, nil, 0x01)
f.flag_tag = ProtoField.bool("mcheck.flags.tag", "Has tag", 8, nil, 0x02)
f.profile = ProtoField.uint8("mcheck.profile", "Profile", base.DEC, PROFILES)
f.index = ProtoField.uint64("mcheck.index", "Event index")
f.timestamp = ProtoField.uint64("mcheck.timestamp", "Timestamp (ns)")
f.tag = ProtoField.uint64("mcheck.tag", "Tag")
f.member = ProtoField.uint64("mcheck.member", "Member")
f.arg0 = ProtoField.uint64("mcheck.arg0", "Argument 0 (address / queue)")
f.arg1 = ProtoField.uint64("mcheck.arg1", "Argument 1 (length)")
f.len_a = ProtoField.uint32("mcheck.len_a", "Readable / text length")
f.len_b = ProtoField.uint32("mcheck.len_b", "Writable length")
f.aq = ProtoField.uint16("mcheck.aq", "Admin queue")
f.readable = ProtoField.bytes("mcheck.readable", "Device-readable part")
f.writable = ProtoField.bytes("mcheck.writable", "Device-writable part")
f.text = ProtoField.string("mcheck.text", "Text", base.UNICODE)
f.text_bytes = ProtoField.bytes("mcheck.text_bytes", "Text (UTF-8 bytes)")
f.address = ProtoField.uint64("mcheck.address", "DMA address", base.HEX)
f.length = ProtoField.uint64("mcheck.length", "DMA length")
f.queue = ProtoField.uint64("mcheck.queue", "Queue")
f.pci_offset = ProtoField.uint64("mcheck.pci.offset", "PCI read offset", base.HEX)
f.pci_length = ProtoField.uint64("mcheck.pci.length", "PCI read length")
f.pci_value = ProtoField.bytes("mcheck.pci.value", "PCI read value")

f.opcode = ProtoField.uint16("mcheck.cmd.opcode", "Opcode", base.HEX)
f.cmd_name = ProtoField.string("mcheck.cmd.name", "Command")
f.group_type = ProtoField.uint16("mcheck.cmd.group_type", "Group type", base.DEC, GROUP_TYPES)
f.group_member = ProtoField.uint64("mcheck.cmd.member", "Group member id")
f.mode_flags = ProtoField.uint8("mcheck.cmd.flags", "Mode flags (bit 0 = stopped)", base.HEX)
f.draft_mode = ProtoField.uint8("mcheck.cmd.mode", "Mode", base.DEC, DRAFT_MODES)
f.obj_type = ProtoField.uint16("mcheck.cmd.obj_type", "Resource object type")
f.obj_id = ProtoField.uint32("mcheck.cmd.obj_id", "Resource object id")
f.sub_type = ProtoField.uint8("mcheck.cmd.type", "Type")
f.cap_id = ProtoField.uint16("mcheck.cmd.cap_id", "Capability id")
f.u8a = ProtoField.uint8("mcheck.cmd.get_parts_limit", "GET objects limit")
f.u8b = ProtoField.uint8("mcheck.cmd.set_parts_limit", "SET objects limit")
f.range_addr = ProtoField.uint64("mcheck.cmd.range_addr", "Range address", base.HEX)
f.range_len = ProtoField.uint64("mcheck.cmd.range_len", "Range length")
f.page_size = ProtoField.uint32("mcheck.cmd.page_size", "Page size")

f.status = ProtoField.uint16("mcheck.res.status", "Status", base.DEC, STATUS)
f.qualifier = ProtoField.uint16("mcheck.res.qualifier", "Status qualifier", base.HEX, QUALIFIERS)
f.res_value = ProtoField.uint32("mcheck.res.value", "Size / count")
f.res_remaining = ProtoField.uint32("mcheck.res.remaining", "Remaining context size")
f.res_mode = ProtoField.uint8("mcheck.res.mode", "Mode", base.DEC, DRAFT_MODES)
f.res_pending = ProtoField.uint64("mcheck.res.pending_bytes", "Pending bytes")
f.reserved2 = ProtoField.bytes("mcheck.res.reserved2", "reserved2 (not zero)")
local UINT_FIELDS = { [1] = ProtoField.uint8, [2] = ProtoField.uint16, [4] = ProtoField.uint32 }
local output_fields = {}
for _, commands in pairs(OUTPUT) do
  for _, list in pairs(commands) do
    for _, o in ipairs(list) do
      if output_fields[o[1]] == nil then
        output_fields[o[1]] = UINT_FIELDS[o[3]]("mcheck.res." .. o[1], o[1] .. " (reserved2 output)")
        f["out_" .. o[1]] = output_fields[o[1]]
      end
    end
  end
end
f.part = ProtoField.uint16("mcheck.part.type", "Device part", base.HEX, PART_TYPES)
f.part_index = ProtoField.uint16("mcheck.part.index", "Queue index")
f.part_length = ProtoField.uint32("mcheck.part.length", "Value length")

local function cmd_fields(tree, rd, prof, name)
  local n = rd:len()
  local function has(off, size) return n >= off + size end
  if prof == 1 then
    if name == "DEV_MODE_SET" and has(24, 1) then
      local item = tree:add(f.mode_flags, rd(24, 1))
      item:append_text(bit32.band(rd(24, 1):uint(), 1) == 1 and " (stop)" or " (resume)")
    elseif name and name:find("^RESOURCE_OBJ_") or name == "DEV_PARTS_METADATA_GET" or name == "DEV_PARTS_GET" or name == "DEV_PARTS_SET" then
      if has(24, 8) then
        tree:add_le(f.obj_type, rd(24, 2))
        tree:add_le(f.obj_id, rd(28, 4))
      end
      if name == "RESOURCE_OBJ_CREATE" and has(40, 1) then tree:add(f.sub_type, rd(40, 1)):append_text(" (0 = GET, 1 = SET)") end
      if (name == "DEV_PARTS_METADATA_GET" or name == "DEV_PARTS_GET") and has(32, 1) then tree:add(f.sub_type, rd(32, 1)) end
    elseif (name == "DEVICE_CAP_GET" or name == "DRIVER_CAP_SET") and has(24, 2) then
      tree:add_le(f.cap_id, rd(24, 2))
      if name == "DRIVER_CAP_SET" and has(32, 2) then
        tree:add(f.u8a, rd(32, 1))
        tree:add(f.u8b, rd(33, 1))
      end
    end
  elseif prof == 2 then
    if name == "DEV_MODE_SET" and has(24, 1) then
      tree:add(f.draft_mode, rd(24, 1))
    elseif name == "WR_START" and has(24, 24) then
      tree:add_le(f.page_size, rd(24, 4))
      tree:add(f.sub_type, rd(28, 1))
      tree:add_le(f.range_addr, rd(32, 8))
      tree:add_le(f.range_len, rd(40, 8))
    elseif (name == "WR_STOP" or name == "WR_REPORT") and has(24, 8) then
      tree:add_le(f.range_addr, rd(24, 8))
      if name == "WR_REPORT" and has(32, 8) then tree:add_le(f.range_len, rd(32, 8)) end
    end
  end
end

local function parts(tree, r, off)
  while r:len() >= off + 16 do
    local ptype = r(off, 2):le_uint()
    local len = r(off + 12, 4):le_uint()
    local sub = tree:add_le(f.part, r(off, 2))
    if ptype == 0x104 or ptype == 0x105 then sub:add_le(f.part_index, r(off + 4, 2)) end
    sub:add_le(f.part_length, r(off + 12, 4))
    off = off + 16 + len
  end
end

local function output_fields_of(tree, wr, prof, name)
  if wr:len() < 8 then return end
  local outs = (OUTPUT[prof] or {})[name]
  if outs then
    for _, o in ipairs(outs) do tree:add_le(output_fields[o[1]], wr(4 + o[2], o[3])) end
  elseif wr(4, 4):le_uint() ~= 0 then
    tree:add(f.reserved2, wr(4, 4))
  end
end

local function result_fields(tree, wr, prof, name)
  local n = wr:len()
  output_fields_of(tree, wr, prof, name)
  if prof == 1 then
    if name == "DEV_PARTS_METADATA_GET" and n >= 12 then
      tree:add_le(f.res_value, wr(8, 4))
    elseif name == "DEVICE_CAP_GET" and n >= 10 then
      tree:add(f.u8a, wr(8, 1))
      tree:add(f.u8b, wr(9, 1))
    elseif name == "DEV_PARTS_GET" then
      parts(tree, wr, 8)
    end
  elseif prof == 2 then
    if name == "DEV_MODE_GET" and n >= 9 then
      tree:add(f.res_mode, wr(8, 1))
    elseif (name == "DEV_CTX_SIZE_GET" or name == "DEV_CTX_READ") and n >= 12 then
      tree:add_le(f.res_value, wr(8, 4))
      if name == "DEV_CTX_READ" and n >= 16 then tree:add_le(f.res_remaining, wr(12, 4)) end
    elseif name == "WR_PENDING" and n >= 16 then
      tree:add_le(f.res_pending, wr(8, 8))
    end
  end
end

function mcheck.dissector(buf, pinfo, root)
  pinfo.cols.protocol = "mcheck"
  if buf:len() < 68 then
    root:add(mcheck, buf(), "mcheck record (too short)")
    return
  end
  local tree = root:add(mcheck, buf(0, 68 + buf(56, 4):le_uint() + buf(60, 4):le_uint()))
  tree:add(f.magic, buf(0, 4))
  tree:add(f.version, buf(4, 1))
  local kind = buf(5, 1):uint()
  local prof = buf(7, 1):uint()
  tree:add(f.kind, buf(5, 1))
  local flags = tree:add(f.flags, buf(6, 1))
  flags:add(f.flag_writable, buf(6, 1))
  flags:add(f.flag_tag, buf(6, 1))
  tree:add(f.profile, buf(7, 1))
  tree:add_le(f.index, buf(8, 8))
  tree:add_le(f.timestamp, buf(16, 8))
  tree:add_le(f.tag, buf(24, 8))
  tree:add_le(f.member, buf(32, 8))
  tree:add_le(f.arg0, buf(40, 8))
  tree:add_le(f.arg1, buf(48, 8))
  local len_a = buf(56, 4):le_uint()
  local len_b = buf(60, 4):le_uint()
  tree:add_le(f.len_a, buf(56, 4))
  tree:add_le(f.len_b, buf(60, 4))
  tree:add_le(f.aq, buf(64, 2))
  local kind_name = KINDS[kind] or ("kind " .. kind)
  local info = kind_name
  local a = len_a > 0 and buf(68, len_a) or nil
  local b = len_b > 0 and buf(68 + len_a, len_b) or nil

  if kind == 0 or kind == 12 then
    if a then
      local text = tree:add(f.text, a, a:string(ENC_UTF_8))
      text:add(f.text_bytes, a)
      info = info .. " " .. a:string(ENC_UTF_8)
    end
  elseif kind == 1 or kind == 2 or kind == 3 then
    local name
    if a then
      local rd = tree:add(f.readable, a)
      local op = a:len() >= 2 and a(0, 2):le_uint() or 0
      name = (OPCODES[prof] or {})[op]
      rd:add_le(f.opcode, a(0, math.min(2, a:len())))
      rd:add(f.cmd_name, name or string.format("unknown opcode 0x%04x", op))
      if a:len() >= 4 then rd:add_le(f.group_type, a(2, 2)) end
      if a:len() >= 24 then rd:add_le(f.group_member, a(16, 8)) end
      cmd_fields(rd, a, prof, name)
      info = info .. " " .. (name or string.format("0x%04x", op))
      if a:len() >= 24 then info = info .. " member " .. tostring(a(16, 8):le_uint64()) end
    end
    if b then
      local wr = tree:add(f.writable, b)
      if b:len() >= 4 then
        wr:add_le(f.status, b(0, 2))
        wr:add_le(f.qualifier, b(2, 2))
        local st = b(0, 2):le_uint()
        info = info .. " -> " .. (STATUS[st] or tostring(st))
      end
      result_fields(wr, b, prof, name)
    end
  elseif kind == 4 then
    tree:add_le(f.address, buf(40, 8))
    tree:add_le(f.length, buf(48, 8))
    info = info .. " member " .. tostring(buf(32, 8):le_uint64())
  elseif kind == 5 or kind == 7 then
    tree:add_le(f.queue, buf(40, 8))
    info = info .. " member " .. tostring(buf(32, 8):le_uint64()) .. " queue " .. tostring(buf(40, 8):le_uint64())
  elseif kind == 16 then
    tree:add_le(f.pci_offset, buf(40, 8))
    tree:add_le(f.pci_length, buf(48, 8))
    if a then tree:add(f.pci_value, a) end
    info = info .. " member " .. tostring(buf(32, 8):le_uint64()) .. " offset 0x" .. buf(40, 8):le_uint64():tohex():gsub("^0+(.)", "%1")
    if a then info = info .. " value " .. tostring(a:bytes()):lower() end
  elseif kind ~= 11 then
    info = info .. " member " .. tostring(buf(32, 8):le_uint64())
  end
  pinfo.cols.info = info
end

DissectorTable.get("wtap_encap"):add(wtap_encaps and wtap_encaps.USER0 or 45, mcheck)
