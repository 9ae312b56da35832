-----------------------------------------------------------------------------
-- ssl.config: what the ssl module supports, in the shape of LuaSec's ssl.config, for
-- programs that look before they configure (protocols, curves, options, capabilities).
-----------------------------------------------------------------------------
local options = {}
-- The OpenSSL option names LuaSec users write; all are accepted, as no-ops on rustls
-- (docs/tls.md says why).
for _, name in ipairs({
  "all", "allow_unsafe_legacy_renegotiation", "cipher_server_preference",
  "cisco_anyconnect", "cookie_exchange", "cryptopro_tlsext_bug",
  "dont_insert_empty_fragments", "ephemeral_rsa", "legacy_server_connect",
  "microsoft_big_sslv3_buffer", "microsoft_sess_id_bug", "msie_sslv2_rsa_padding",
  "netscape_ca_dn_bug", "netscape_challenge_bug", "netscape_demo_cipher_change_bug",
  "netscape_reuse_cipher_change_bug", "no_anti_replay", "no_compression",
  "no_encrypt_then_mac", "no_query_mtu", "no_renegotiation", "no_session_resumption_on_renegotiation",
  "no_sslv2", "no_sslv3", "no_ticket", "no_tlsv1", "no_tlsv1_1", "no_tlsv1_2", "no_tlsv1_3",
  "pkcs1_check_1", "pkcs1_check_2", "prioritize_chacha", "safari_ecdhe_ecdsa_bug",
  "single_dh_use", "single_ecdh_use", "ssleay_080_client_dh_bug", "sslref2_reuse_cert_type_bug",
  "tls_block_padding_bug", "tls_d5_bug", "tls_rollback_bug", "tlsext_padding",
}) do
  options[name] = true
end

return {
  options = options,
  protocols = { tlsv1_2 = true, tlsv1_3 = true },
  algorithms = { ec = true },
  curves = { X25519 = true, prime256v1 = true, secp384r1 = true },
  capabilities = { alpn = true, curves_list = true, ecdh_auto = true },
}
