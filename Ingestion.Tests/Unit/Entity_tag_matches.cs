using Ingestion.Api.Reads;

namespace Ingestion.Tests.Unit;

/// <summary>
/// A revalidation is answered 304 when its <c>If-None-Match</c> names the current tag (RFC 9110 13.1.2: weak
/// comparison, a list, or <c>*</c>); the header is read in place, so these pin what the parser it replaced accepted.
/// </summary>
public sealed class Entity_tag_matches
{
    private const string Current = "\"a7-transactions-json-0123456789ab\"";

    [TestCase("\"a7-transactions-json-0123456789ab\"")]
    [TestCase("W/\"a7-transactions-json-0123456789ab\"")]
    [TestCase("\"a6-transactions-json-0123456789ab\", \"a7-transactions-json-0123456789ab\"")]
    [TestCase("\"x,y\" ,W/\"a7-transactions-json-0123456789ab\"")]
    [TestCase("*")]
    public void Should_match_a_list_that_names_the_current_tag(string header) =>
        Assert.That(ReadCaching.Matches(header, Current), Is.True);

    [TestCase("")]
    [TestCase("\"a6-transactions-json-0123456789ab\"")]
    [TestCase("\"a7-transactions-json-0123456789ab")]
    [TestCase("a7-transactions-json-0123456789ab")]
    [TestCase("\"a7-transactions-json-0123456789ab\"x")]
    [TestCase("\"a7-transactions-json-0123456789ab-longer\"")]
    [TestCase("\"A7-TRANSACTIONS-JSON-0123456789AB\"")]
    public void Should_not_match_another_tag_or_a_malformed_one(string header) =>
        Assert.That(ReadCaching.Matches(header, Current), Is.False);
}
