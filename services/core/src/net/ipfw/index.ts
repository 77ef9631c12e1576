export { IpfwChain, IpfwRuleset, IpfwStats, ipfwDigest, IPFW_PASS, IPFW_DENY, IPFW_RESET, IPFW_RULES_MAX, IpfwReject, IPFW_REJECT_REASONS, type IpfwRulesetSpec, type IpfwChainOptions } from "./ip_fw3.js";
export { IpfwAction, IpfwDir, IpfwRuleError, IPFW_RULE_MAX, IPFW_DEFAULT_RULE, IPFW_AUTOINC_STEP, TH, parseIpfwRule, formatIpfwRule, ipfwRuleTables, ipfwRuleIfnames, type IpfwRule, type IpfwAddr } from "./ip_fw3_rule.js";
export { IpfwStateTable, ipfwStateKey, IPFW_DYN_LIFETIME, type IpfwStateRecord, type IpfwStateTableOptions } from "./ip_fw3_state.js";
export { IpfwTable, IPFW_TABLE_MAX } from "./ip_fw3_table.js";
