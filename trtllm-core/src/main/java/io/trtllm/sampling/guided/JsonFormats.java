package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
/**
 * The string formats of JSON Schema we can write exactly, as the content of a JSON string (ASCII, so no
 * escapes): a subset of the valid strings of each format, never an invalid one.
 *
 * <ul>
 *   <li>{@code date}: RFC 3339 full-date, with the days of each month and February 29 in leap years only;</li>
 *   <li>{@code time}: RFC 3339 full-time, seconds 00-59, fractions of up to 9 digits, {@code Z} or an offset;</li>
 *   <li>{@code date-time}: date {@code T} time;</li>
 *   <li>{@code uuid}: 8-4-4-4-12 hex digits;</li>
 *   <li>{@code ipv4}: dotted quad without leading zeros; {@code ipv6}: eight groups of 1-4 hex digits;</li>
 *   <li>{@code hostname}: letters, digits and inner hyphens, labels of at most 63, 253 in all;</li>
 *   <li>{@code email}: dot-separated letters and digits (and {@code _ + -} between them), {@code @}, a hostname
 *       ending in a common top-level domain (com, org, net, io, de, ...);</li>
 *   <li>{@code uri}: {@code http} or {@code https}, {@code ://}, a hostname, an optional port and path.</li>
 * </ul>
 */
final class JsonFormats {
    private JsonFormats() {
    }

    static Expr content(String format, String ptr) {
        String regex = switch (format) {
            case "date" -> DATE;
            case "time" -> TIME;
            case "date-time" -> DATE + "T" + TIME;
            case "uuid" -> "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
            case "ipv4" -> OCTET + "(\\." + OCTET + "){3}";
            case "ipv6" -> "[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{1,4}){7}";
            case "hostname" -> null;
            case "email" -> null;
            case "uri" -> null;
            default -> throw new GuidedDecodingException("JSON schema at " + ptr + ": the format \"" + RegexParser.abbreviate(format)
                    + "\" is not supported (supported: date, time, date-time, uuid, ipv4, ipv6, hostname, email, uri)",
                    "format", ptr);
        };
        if (regex != null) {
            return RegexParser.parse(regex, RegexParser.Mode.FULL_MATCH);
        }
        return switch (format) {
            case "hostname" -> new Expr.Lang(Automata.of(RegexParser.parse(HOSTNAME, RegexParser.Mode.FULL_MATCH))
                    .intersect(Automata.of(RegexParser.parse(".{1,253}", RegexParser.Mode.FULL_MATCH))));
            case "email" -> {
                var local = Automata.of(RegexParser.parse(LOCAL_PART, RegexParser.Mode.FULL_MATCH))
                        .intersect(Automata.of(RegexParser.parse(".{1,64}", RegexParser.Mode.FULL_MATCH)));
                var domain = Automata.of(RegexParser.parse(LABEL + "(\\." + LABEL + ")*\\." + TOP_LEVEL, RegexParser.Mode.FULL_MATCH))
                        .intersect(Automata.of(RegexParser.parse(".{1,253}", RegexParser.Mode.FULL_MATCH)));
                yield Expr.seq(new Expr.Lang(local), Expr.literal("@"), new Expr.Lang(domain));
            }
            default -> Expr.seq(RegexParser.parse("https?://", RegexParser.Mode.FULL_MATCH),
                    content("hostname", ptr),
                    RegexParser.parse("(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*", RegexParser.Mode.FULL_MATCH));
        };
    }

    private static final String OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    private static final String LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    private static final String HOSTNAME = LABEL + "(\\." + LABEL + ")*";
    /** Top-level domains of email addresses: a fixed list, as validators check them against the registry's. */
    private static final String TOP_LEVEL = "(com|org|net|edu|gov|io|dev|ai|app|info|de|fr|uk|jp|cn|in|br|eu)";
    private static final String LOCAL_PART = "[A-Za-z0-9]+([._+-][A-Za-z0-9]+)*";
    private static final String DAY31 = "(0[1-9]|[12][0-9]|3[01])";
    private static final String DAY30 = "(0[1-9]|[12][0-9]|30)";
    private static final String DAY28 = "(0[1-9]|1[0-9]|2[0-8])";
    private static final String LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)";
    private static final String DATE = "([0-9]{4}-((0[13578]|1[02])-" + DAY31 + "|(0[469]|11)-" + DAY30 + "|02-" + DAY28 + ")"
            + "|" + LEAP_YEAR + "-02-29)";
    private static final String TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
}
