using System.Net;
using System.Text;
using System.Text.Json;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Streams;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.Unit;

/// <summary>
/// A page's body read as it arrives (<see cref="PageStream"/>): the same records and the same next page as the whole
/// body parsed at once, wherever the cursor and the total stand and however the bytes are cut, in a buffer that holds
/// the largest record rather than the page.
/// </summary>
public sealed class Page_streams
{
    private static readonly JsonPath Data = JsonPath.Parse("$.data");
    private static readonly JsonPath Cursor = JsonPath.Parse("$.meta.next_cursor");
    private static readonly JsonPath Total = JsonPath.Parse("$.meta.total");
    private static readonly JsonPath HasMore = JsonPath.Parse("$.has_more");

    private static readonly string Records = """
        [{"id":1,"ts":"2026-01-05T10:00:00Z","note":"caf\u00e9 \"quoted\""},{"id":2,"ts":1767607200,"nested":{"a":[1,2,{"b":null}]}},
         "not an object",{"id":3,"ts":1767607200000,"tags":["x","y"]}]
        """;

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(4096)]
    public async Task Should_read_the_records_and_the_cursor_and_total_before_or_after_them_however_the_bytes_are_cut(int chunk)
    {
        var after = $$"""{"data":{{Records}},"meta":{"next_cursor":"c-2","total":4},"has_more":true}""";
        var before = $$"""{"has_more":true,"meta":{"total":4,"next_cursor":"c-2"},"data":{{Records}}}""";

        foreach (var body in new[] { after, before })
        {
            var (records, page) = await ReadAllAsync(body, chunk);

            Assert.That(records, Is.EqualTo(Expected(body)), "each record's JSON as the whole body holds it");
            Assert.That(page.Text(Cursor), Is.EqualTo("c-2"));
            Assert.That(page.Text(Total), Is.EqualTo("4"));
            Assert.That(page.IsFalse(HasMore), Is.False);
            Assert.That(page.Count, Is.EqualTo(4));
        }
    }

    [Test]
    public async Task Should_follow_to_the_same_next_page_as_the_parsed_body()
    {
        var requests = new PageRequests(Source(new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            HasMorePath: "$.has_more")), null);
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = new HttpRequestMessage(HttpMethod.Get, "https://api.example.com/e") };
        var start = new PagePosition(null, null, null);
        string[] bodies =
        [
            """{"data":[{"id":1}],"meta":{"next_cursor":"c2","total":"12"},"has_more":true}""",
            """{"has_more":false,"meta":{"next_cursor":"c2"},"data":[{"id":1}]}""",
            """{"data":[{"id":1}],"meta":{"next_cursor":null,"total":{"n":1}}}""",
            """{"meta":{"next_cursor":"c2","next_cursor":"c3"},"data":[{"id":1},{"id":2}]}""",
            """{"data":[],"meta":{"next_cursor":"c2"}}""",
        ];

        foreach (var body in bodies)
        {
            var (_, page) = await ReadAllAsync(body, 5, requests.Watched);
            using var document = JsonDocument.Parse(body);
            var parsed = requests.Follow(start, document.RootElement, response, document.RootElement.GetProperty("data").GetArrayLength());

            Assert.That(requests.Follow(start, page, response, (int)page.Count), Is.EqualTo(parsed), body);
        }
    }

    [Test]
    public async Task Should_read_a_record_larger_than_its_buffer_and_an_array_at_the_root()
    {
        var large = new string('x', 200_000);
        var body = "\uFEFF" + $$"""[{"id":1,"blob":"{{large}}"},{"id":2}]""";

        var (records, page) = await ReadAllAsync(body, 1000, recordsPath: JsonPath.Root);
        using var _ = page;

        Assert.That(records, Has.Count.EqualTo(2));
        Assert.That(records[0], Does.Contain(large), "the whole record, grown past the 64 KB buffer");
        Assert.That(page.Count, Is.EqualTo(2));
    }

    [TestCase("""{"data":[{"id":1},{"id":2}],"meta":{"next_cursor":"c"}""", "page_not_json")]
    [TestCase("""{"data":[{"id":1},{"id":2}]} trailing""", "page_not_json")]
    [TestCase("""{"data":{"id":1},"meta":{}}""", "records_not_found")]
    [TestCase("""{"items":[{"id":1}]}""", "records_not_found")]
    [TestCase("""{"data":null}""", "records_not_found")]
    [TestCase("""{"data":[{"id":1}],"data":[{"id":2}]}""", "records_not_found")]
    public async Task Should_refuse_the_page_when_its_body_goes_wrong_even_after_its_last_record(string body, string code)
    {
        using var page = Open(body, 3);
        var refusal = Assert.ThrowsAsync<SyncException>(async () =>
        {
            while (await page.ReadAsync(CancellationToken.None))
            {
            }
        });

        Assert.That(refusal!.Code, Is.EqualTo(code));
    }

    [Test]
    public async Task Should_tell_a_body_that_broke_off_as_a_failure_to_ask_again()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"data":[{"id":1},{"id":2},{"id":3}]}""");
        using var page = new PageStream(new ChunkedStream(bytes, 4096, breakAt: 20), "https://api.example.com/e", Data, [], TimeSpan.FromSeconds(5));

        Assert.That(await page.ReadAsync(CancellationToken.None), Is.True);
        Assert.ThrowsAsync<PageBodyException>(async () => await page.ReadAsync(CancellationToken.None));
    }

    private static async Task<(List<string> Records, PageStream Page)> ReadAllAsync(string body, int chunk,
        IReadOnlyList<JsonPath>? watched = null, JsonPath? recordsPath = null)
    {
        var page = Open(body, chunk, watched, recordsPath);
        var records = new List<string>();
        while (await page.ReadAsync(CancellationToken.None))
        {
            Assert.That(Encoding.UTF8.GetString(page.Raw), Is.EqualTo(page.Record.GetRawText()));
            records.Add(Encoding.UTF8.GetString(page.Raw));
        }

        return (records, page);
    }

    private static PageStream Open(string body, int chunk, IReadOnlyList<JsonPath>? watched = null, JsonPath? recordsPath = null) =>
        new(new ChunkedStream(Encoding.UTF8.GetBytes(body), chunk), "https://api.example.com/e", recordsPath ?? Data,
            watched ?? [Cursor, Total, HasMore], TimeSpan.FromSeconds(5));

    private static List<string> Expected(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("data").EnumerateArray().Select(r => r.GetRawText()).ToList();
    }

    private static SourceDefinition Source(SourcePagination pagination) => new("events", "events",
        new SourceRequest("https://api.example.com/", "/v1/events"), null, pagination,
        new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id" }, TotalPath: "$.meta.total"),
        new SourceRateLimit([new RateLimitPolicy(10, 60)]));

    /// <summary>Gives at most <c>chunk</c> bytes a read, as a network may; breaks off after <c>breakAt</c> bytes, as a reset connection does.</summary>
    private sealed class ChunkedStream(byte[] bytes, int chunk, int breakAt = int.MaxValue) : ReadOnlyStream
    {
        private int _at;

        public override int Read(byte[] buffer, int offset, int count) => Next(buffer.AsSpan(offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Next(buffer.Span));

        private int Next(Span<byte> buffer)
        {
            if (_at >= breakAt)
            {
                throw new IOException("The connection was reset.");
            }

            var n = Math.Min(Math.Min(buffer.Length, chunk), Math.Min(bytes.Length, breakAt) - _at);
            bytes.AsSpan(_at, n).CopyTo(buffer);
            _at += n;
            return n;
        }
    }
}
