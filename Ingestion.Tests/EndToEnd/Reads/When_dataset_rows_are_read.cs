using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// A dataset with a column of every kind, loaded through the upload pipeline, read back
/// through <c>GET /v1/datasets/{name}/rows</c>: each filter, each refusal, pages, formats,
/// another tenant, and the ETag.
/// </summary>
public sealed class When_dataset_rows_are_read
{
    private const int Rows = 400;
    private readonly string _name = "items_" + Guid.NewGuid().ToString("N")[..8];
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        await _acme.CreateDatasetAsync(Definition(_name));
        await _acme.LoadAsync(_name, ReadClient.Csv(Header, Enumerable.Range(1, Rows).Select(Row)));
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    internal const string Header = "id,name,price,qty,active,day,at,ref,note";

    internal static object Definition(string name, string[][]? indexes = null) => new
    {
        name,
        columns = new object[]
        {
            new { name = "id", type = "bigint" },
            new { name = "name", type = "text", required = true },
            new { name = "price", type = "numeric(10,2)" },
            new { name = "qty", type = "integer" },
            new { name = "active", type = "boolean" },
            new { name = "day", type = "date" },
            new { name = "at", type = "timestamptz", required = true },
            new { name = "ref", type = "uuid" },
            new { name = "note", type = "text" },
        },
        key = new[] { "id" },
        indexes,
    };

    internal static string Row(int i) => string.Create(CultureInfo.InvariantCulture,
        $"{i},item {i % 10},{Price(i)},{i % 7},{(i % 2 == 0 ? "true" : "false")},{Day(i):yyyy-MM-dd},{At(i):yyyy-MM-ddTHH:mm:ssZ},{Ref(i)},{Note(i)}");

    private static decimal Price(int i) => i * 1.25m;

    private static DateOnly Day(int i) => new DateOnly(2026, 1, 1).AddDays(i % 30);

    private static DateTime At(int i) => new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(i);

    private static Guid Ref(int i) => Guid.Parse($"00000000-0000-4000-8000-{i:x12}");

    /// <summary>Every fifth row has no note; one has quotes, a comma and a line break, one non-Latin text.</summary>
    private static string Note(int i) => i % 5 == 0 ? "" : i == 7 ? "\"said \"\"hi\"\", then\nleft\"" : i == 11 ? "Zürich Łódź Αθήνα" : $"note {i}";

    private static int[] Ids(IEnumerable<JsonObject> rows) => rows.Select(r => r["id"]!.GetValue<int>()).ToArray();

    private async Task<int[]> IdsAsync(string query) =>
        Ids((await _acme.GetJsonAsync($"/v1/datasets/{_name}/rows?limit=1000&{query}"))["rows"]!.AsArray().Select(r => r!.AsObject()));

    [Test]
    public async Task Should_return_every_row_with_typed_values_in_key_order()
    {
        var page = await _acme.GetJsonAsync($"/v1/datasets/{_name}/rows?limit=1000");
        var rows = page["rows"]!.AsArray();

        Assert.That(rows, Has.Count.EqualTo(Rows));
        Assert.That(Ids(rows.Select(r => r!.AsObject())), Is.EqualTo(Enumerable.Range(1, Rows).ToArray()));
        Assert.That(page["nextCursor"], Is.Null);
        var seven = rows[6]!;
        Assert.That(seven["name"]!.GetValue<string>(), Is.EqualTo("item 7"));
        Assert.That(seven["price"]!.GetValue<decimal>(), Is.EqualTo(8.75m));
        Assert.That(seven["qty"]!.GetValue<int>(), Is.EqualTo(0));
        Assert.That(seven["active"]!.GetValue<bool>(), Is.False);
        Assert.That(seven["day"]!.GetValue<string>(), Is.EqualTo("2026-01-08"));
        Assert.That(seven["at"]!.GetValue<string>(), Is.EqualTo("2026-01-01T07:00:00Z"));
        Assert.That(seven["ref"]!.GetValue<Guid>(), Is.EqualTo(Ref(7)));
        Assert.That(seven["note"]!.GetValue<string>(), Is.EqualTo("said \"hi\", then\nleft"));
        Assert.That(rows[4]!["note"], Is.Null, "an empty field loads as null");
    }

    [Test]
    public async Task Should_filter_on_equality_in_ranges_and_nulls()
    {
        var all = Enumerable.Range(1, Rows).ToList();
        Assert.That(await IdsAsync("name=item%203"), Is.EqualTo(all.Where(i => i % 10 == 3).ToArray()));
        Assert.That(await IdsAsync("qty[eq]=4&active=true"), Is.EqualTo(all.Where(i => i % 7 == 4 && i % 2 == 0).ToArray()));
        Assert.That(await IdsAsync("id[in]=5,17,399,9999"), Is.EqualTo(new[] { 5, 17, 399 }));
        Assert.That(await IdsAsync("at[gte]=2026-01-02T00:00:00Z&at[lt]=2026-01-03T00:00:00%2B00:00"),
            Is.EqualTo(all.Where(i => i >= 24 && i < 48).ToArray()));
        Assert.That(await IdsAsync("price[gt]=100&price[lte]=110.00"), Is.EqualTo(all.Where(i => Price(i) > 100 && Price(i) <= 110).ToArray()));
        Assert.That(await IdsAsync("day[lt]=2026-01-03"), Is.EqualTo(all.Where(i => Day(i) < new DateOnly(2026, 1, 3)).ToArray()));
        Assert.That(await IdsAsync($"ref={Ref(42)}"), Is.EqualTo(new[] { 42 }));
        Assert.That(await IdsAsync("note[null]=true"), Is.EqualTo(all.Where(i => i % 5 == 0).ToArray()));
        Assert.That((await IdsAsync("note[null]=false")).Length, Is.EqualTo(Rows - Rows / 5));
        Assert.That(await IdsAsync("note[in]=%22said%20%22%22hi%22%22,%20then%0Aleft%22,note%2012"), Is.EqualTo(new[] { 7, 12 }),
            "a value with a comma is quoted as in CSV");
    }

    [TestCase("price=abc", "price[eq]", "price")]
    [TestCase("qty[gte]=1.5", "qty[gte]", "qty")]
    [TestCase("at[lt]=yesterday", "at[lt]", "at")]
    [TestCase("ref=42", "ref[eq]", "ref")]
    [TestCase("active=maybe", "active[eq]", "active")]
    [TestCase("day=01/02/2026", "day[eq]", "day")]
    [TestCase("id[in]=1,x", "id[in]", "id")]
    public async Task Should_refuse_a_value_that_is_not_of_the_columns_type(string query, string parameter, string column)
    {
        using var response = await _acme.GetAsync($"/v1/datasets/{_name}/rows?{query}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.ProblemAsync())["errors"]!.AsObject();
        var key = errors.Select(e => e.Key).Single();
        Assert.That(parameter, Does.StartWith(key), "the error is keyed by the parameter as sent");
        Assert.That(errors[key]![0]!.GetValue<string>(), Does.Contain($"column '{column}'"));
    }

    [TestCase("colour=red", "colour", "'colour' is not a column")]
    [TestCase("qty[like]=1", "qty[like]", "'like' is not an operator")]
    [TestCase("order=name", "order", "neither the key nor the start of a declared index")]
    [TestCase("fields=id,secret", "fields", "'secret' is not a column")]
    [TestCase("limit=5000", "limit", "at most")]
    [TestCase("name[null]=maybe", "name[null]", "takes true")]
    public async Task Should_refuse_what_the_dataset_does_not_have(string query, string parameter, string reason)
    {
        using var response = await _acme.GetAsync($"/v1/datasets/{_name}/rows?{query}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.ProblemAsync())["errors"]!;
        Assert.That(errors[parameter]![0]!.GetValue<string>(), Does.Contain(reason));
    }

    [TestCase("id%3B%20drop%20table%20x=1", "is not a column")]
    [TestCase("%22name%22=item%201", "is not a column")]
    [TestCase("name%5Beq%5D%5Bx%5D=1", "is not a parameter")]
    [TestCase("fields=id,name%20from%20x%3B--", "is not a column")]
    [TestCase("order=id%3Bdrop%20table%20x", "neither the key")]
    [TestCase("price=1%20or%201%3D1", "is not a number")]
    public async Task Should_refuse_injection_in_names_and_typed_values(string query, string reason)
    {
        using var response = await _acme.GetAsync($"/v1/datasets/{_name}/rows?{query}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["errors"]!.ToJsonString(), Does.Contain(reason));
        Assert.That(await IdsAsync(""), Has.Length.EqualTo(Rows), "the table is untouched");
    }

    [Test]
    public async Task Should_match_an_injected_text_value_literally()
    {
        Assert.That(await IdsAsync("name=item%201'%20or%20'1'%3D'1"), Is.Empty);
        Assert.That(await IdsAsync("name=item%201%3B%20delete%20from%20x"), Is.Empty);
        Assert.That(await IdsAsync(""), Has.Length.EqualTo(Rows));
    }

    [Test]
    public async Task Should_page_through_every_row_once_and_only_the_fields_asked_for()
    {
        var rows = await _acme.ReadAllPagesAsync($"/v1/datasets/{_name}/rows?limit=37&fields=id,name");

        Assert.That(Ids(rows), Is.EqualTo(Enumerable.Range(1, Rows).ToArray()));
        Assert.That(rows.Select(r => r.Select(p => p.Key).ToArray()), Has.All.EqualTo(new[] { "id", "name" }));
    }

    [Test]
    public async Task Should_page_backwards_with_filters()
    {
        var rows = await _acme.ReadAllPagesAsync($"/v1/datasets/{_name}/rows?limit=9&order=-id&active=true");

        Assert.That(Ids(rows), Is.EqualTo(Enumerable.Range(1, Rows).Where(i => i % 2 == 0).Reverse().ToArray()));
    }

    [Test]
    public async Task Should_refuse_a_tampered_cursor_or_one_from_another_query()
    {
        var page = await _acme.GetJsonAsync($"/v1/datasets/{_name}/rows?limit=10");
        var cursor = page["nextCursor"]!.GetValue<string>();
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(Pad(cursor.Split('.')[0])));
        var forged = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload.Replace("\"10\"", "\"300\""))).TrimEnd('=')
            .Replace('+', '-').Replace('/', '_') + "." + cursor.Split('.')[1];
        var flipped = cursor[..^2] + (cursor[^2] == 'A' ? 'B' : 'A') + cursor[^1];

        foreach (var (bad, what) in new[] { (forged, "a changed value"), (flipped, "a changed signature"), ("garbage", "not a cursor") })
        {
            using var response = await _acme.GetAsync($"/v1/datasets/{_name}/rows?limit=10&cursor={Uri.EscapeDataString(bad)}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), what);
            Assert.That((await response.ProblemAsync())["errors"]!["cursor"], Is.Not.Null, what);
        }

        using var other = await _acme.GetAsync($"/v1/datasets/{_name}/rows?limit=10&active=true&cursor={Uri.EscapeDataString(cursor)}");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "a cursor is bound to its query's filters");
        Assert.That(payload, Does.Contain("\"10\""), "the payload holds the last key");
    }

    [Test]
    public async Task Should_stream_ndjson_and_csv_by_accept()
    {
        using var ndjson = await _acme.ReadAsync($"/v1/datasets/{_name}/rows?qty=3", "application/x-ndjson");
        Assert.That(ndjson.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(ContentType(ndjson), Is.EqualTo("application/x-ndjson"));
        var lines = (await ndjson.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Select(l => JsonNode.Parse(l)!["id"]!.GetValue<int>()).Order(),
            Is.EqualTo(Enumerable.Range(1, Rows).Where(i => i % 7 == 3).ToArray()));

        using var csv = await _acme.ReadAsync($"/v1/datasets/{_name}/rows?id[lte]=12&order=id", "text/csv");
        Assert.That(ContentType(csv), Is.EqualTo("text/csv; charset=utf-8"), csv.ToString());
        var text = await csv.Content.ReadAsStringAsync();
        Assert.That(text, Does.StartWith(Header + "\n"));
        Assert.That(text, Does.Contain("7,item 7,8.75,0,f,2026-01-08,2026-01-01 07:00:00+00,00000000-0000-4000-8000-000000000007,\"said \"\"hi\"\", then\nleft\"\n"));
        Assert.That(text, Does.Contain("\n5,item 5,6.25,5,f,2026-01-06,2026-01-01 05:00:00+00,00000000-0000-4000-8000-000000000005,\n"),
            "null is an empty field");
    }

    [Test]
    public async Task Should_export_csv_at_its_own_path_whatever_the_accept_header()
    {
        // A browser's download link sends Accept: text/html,…; the path alone asks for CSV.
        using var byPath = await _acme.ReadAsync($"/v1/datasets/{_name}/rows.csv?id[lte]=12&order=id", "text/html");
        using var byAccept = await _acme.ReadAsync($"/v1/datasets/{_name}/rows?id[lte]=12&order=id", "text/csv");

        Assert.That(byPath.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(ContentType(byPath), Is.EqualTo("text/csv; charset=utf-8"));
        Assert.That(byPath.Content.Headers.ContentDisposition?.FileName, Is.EqualTo($"{_name}.csv"));
        Assert.That(await byPath.Content.ReadAsStringAsync(), Is.EqualTo(await byAccept.Content.ReadAsStringAsync()));
        using var other = await _globex.GetAsync($"/v1/datasets/{_name}/rows.csv");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "another tenant's dataset is not there");
    }

    [Test]
    public async Task Should_answer_another_tenant_404()
    {
        using var response = await _globex.GetAsync($"/v1/datasets/{_name}/rows");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Unknown dataset"));
    }

    [Test]
    public async Task Should_change_the_etag_only_when_a_load_touches_the_dataset()
    {
        var mine = "watched_" + Guid.NewGuid().ToString("N")[..8];
        var other = "others_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(Definition(mine));
        await _acme.CreateDatasetAsync(Definition(other));
        await _acme.LoadAsync(mine, ReadClient.Csv(Header, Enumerable.Range(1, 20).Select(Row)));
        var path = $"/v1/datasets/{mine}/rows?limit=5&qty=1";
        using var first = await _acme.ReadAsync(path);
        var etag = first.Headers.ETag!.ToString();
        Assert.That(first.Headers.CacheControl!.Private, Is.True);
        Assert.That(first.Headers.CacheControl.MaxAge, Is.Not.Null);
        Assert.That(first.Headers.Vary, Is.EquivalentTo(new[] { "Accept", "X-Api-Key", "Cookie" }),
            "versions are per tenant: another key's answer on this URL may carry the same tag");

        using (var again = await _acme.ReadAsync(path, ifNoneMatch: etag))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.NotModified));
            Assert.That(again.Headers.ETag!.ToString(), Is.EqualTo(etag));
            Assert.That(again.Headers.Vary, Is.EquivalentTo(new[] { "Accept", "X-Api-Key", "Cookie" }));
        }

        await _acme.LoadAsync(other, ReadClient.Csv(Header, [Row(1)]));
        using (var afterOther = await _acme.ReadAsync(path, ifNoneMatch: etag))
        {
            Assert.That(afterOther.StatusCode, Is.EqualTo(HttpStatusCode.NotModified), "another dataset's load");
        }

        await _acme.LoadAsync(mine, ReadClient.Csv(Header, [Row(100_000)]));
        using var afterOwn = await _acme.ReadAsync(path, ifNoneMatch: etag);
        Assert.That(afterOwn.StatusCode, Is.EqualTo(HttpStatusCode.OK), "this dataset's load");
        Assert.That(afterOwn.Headers.ETag!.ToString(), Is.Not.EqualTo(etag));
    }

    [Test]
    public async Task Should_not_answer_another_tenants_tag_as_current()
    {
        var name = "twins_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(Definition(name));
        await _globex.CreateDatasetAsync(Definition(name));
        await _acme.LoadAsync(name, ReadClient.Csv(Header, [Row(1)]));
        await _globex.LoadAsync(name, ReadClient.Csv(Header, [Row(2)]));
        var path = $"/v1/datasets/{name}/rows.csv";
        using var acme = await _acme.ReadAsync(path);
        using var globex = await _globex.ReadAsync(path, ifNoneMatch: acme.Headers.ETag!.ToString());

        Assert.That(globex.StatusCode, Is.EqualTo(HttpStatusCode.OK), "both datasets are at their first load, but their rows differ");
        Assert.That(await globex.Content.ReadAsStringAsync(), Does.Contain("item 2").And.Not.Contain("item 1"));
        Assert.That(globex.Headers.ETag!.ToString(), Is.Not.EqualTo(acme.Headers.ETag.ToString()));
    }

    private static string ContentType(HttpResponseMessage response) =>
        response.Content.Headers.NonValidated.TryGetValues("Content-Type", out var values) ? values.ToString() : "";

    private static string Pad(string base64Url)
    {
        var text = base64Url.Replace('-', '+').Replace('_', '/');
        return text + new string('=', (4 - text.Length % 4) % 4);
    }
}
