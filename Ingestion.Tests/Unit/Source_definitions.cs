using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;

namespace Ingestion.Tests.Unit;

public sealed class Source_definitions
{
    private static readonly DatasetDefinition Events = new("events",
    [
        new DatasetColumn("id", ColumnType.Uuid, true),
        new DatasetColumn("occurred_at", ColumnType.TimestampTz, true),
        new DatasetColumn("note", ColumnType.Text, false),
    ], ["id"]);

    [TestCase("$", "{\"a\":1}", "{\"a\":1}")]
    [TestCase("$.meta.next_cursor", "{\"meta\":{\"next_cursor\":\"abc\"}}", "\"abc\"")]
    [TestCase("$.items[1].id", "{\"items\":[{\"id\":1},{\"id\":2}]}", "2")]
    [TestCase("$.user-info.id", "{\"user-info\":{\"id\":\"u\"}}", "\"u\"")]
    [TestCase("$.a[0][1]", "{\"a\":[[1,2],[3]]}", "2")]
    [TestCase("$[1]", "[10,20]", "20")]
    [TestCase("$.a[0].b[2]", "{\"a\":[{\"b\":[0,0,7]}]}", "7")]
    public void Should_select_what_a_path_names(string path, string json, string expected)
    {
        using var document = JsonDocument.Parse(json);

        Assert.That(JsonPath.Parse(path).TrySelect(document.RootElement, out var value), Is.True);
        Assert.That(value.GetRawText(), Is.EqualTo(expected));
    }

    [TestCase("$.meta.missing")]
    [TestCase("$.meta.next_cursor.deeper")]
    [TestCase("$.list[5]")]
    [TestCase("$.nothing")]
    public void Should_select_nothing_where_a_step_is_missing_or_null(string path)
    {
        using var document = JsonDocument.Parse("{\"meta\":{\"next_cursor\":\"abc\"},\"list\":[1],\"nothing\":null}");

        Assert.That(JsonPath.Parse(path).TrySelect(document.RootElement, out _), Is.False);
    }

    [TestCase("")]
    [TestCase("meta.next")]
    [TestCase("$..next")]
    [TestCase("$.a[*]")]
    [TestCase("$['a']")]
    [TestCase("$.a b")]
    [TestCase("$.")]
    [TestCase("$.a.")]
    [TestCase("$.a[")]
    [TestCase("$.a[]")]
    [TestCase("$.a[-1]")]
    [TestCase("$.a[1234567]")]
    [TestCase("$.a]")]
    [TestCase("$a")]
    [TestCase("a.b")]
    public void Should_refuse_what_is_not_a_simple_path(string path)
    {
        Assert.That(JsonPath.TryParse(path, out _, out var problem), Is.False);
        Assert.That(problem, Does.Contain("is not a JSON path"));
    }

    [TestCase("$.meta.next_cursor", "abc")]
    [TestCase("$.meta.total", "3000000")]
    [TestCase("$.meta.more", "false")]
    [TestCase("$.links[1].href", "/b")]
    [TestCase("$.meta", null)]
    [TestCase("$.links", null)]
    [TestCase("$.meta.none", null)]
    [TestCase("$.links[5].href", null)]
    public void Should_read_a_selected_scalar_as_text_and_nothing_else(string path, string? expected)
    {
        using var body = JsonDocument.Parse("""{"meta":{"next_cursor":"abc","total":3000000,"more":false,"none":null},"links":[{"href":"/a"},{"href":"/b"}]}""");

        Assert.That(JsonPath.Parse(path).SelectText(body.RootElement), Is.EqualTo(expected));
    }

    [Test]
    public void Should_keep_the_text_it_was_parsed_from()
    {
        Assert.That(JsonPath.Parse("$.a[0][1].b-c").Text, Is.EqualTo("$.a[0][1].b-c"));
        Assert.That(JsonPath.Parse("$"), Is.SameAs(JsonPath.Root));
    }

    [Test]
    public void Should_build_a_definition_from_a_valid_body_and_keep_the_secret_apart()
    {
        var body = Body() with { Auth = new SourceRules.AuthBody("query", "api_key", null, "s3cr3t") };

        var (valid, errors) = SourceRules.Validate(body, Events, minimumScheduleMinutes: 5);

        Assert.That(errors, Is.Empty);
        Assert.That(valid!.Secret, Is.EqualTo("s3cr3t"));
        Assert.That(valid.Source.Auth, Is.EqualTo(new SourceAuth(SourceAuthPlacement.Query, "api_key")));
        Assert.That(valid.Source.Incremental!.Format, Is.EqualTo(TimeFormat.UnixMilliseconds));
        Assert.That(valid.Source.Request.Url, Is.EqualTo(new Uri("https://api.example.com/v1/events")));
        Assert.That(JsonSerializer.Serialize(valid.Source), Does.Not.Contain("s3cr3t"));
        Assert.That(body.Auth!.ToString(), Does.Not.Contain("s3cr3t"));
    }

    [Test]
    public void Should_refuse_a_credential_among_the_fixed_headers_and_a_reused_auth_parameter()
    {
        var body = Body() with
        {
            Request = new SourceRules.RequestBody("https://api.example.com", "/v1/events",
                new Dictionary<string, string> { ["api_key"] = "x" }, new Dictionary<string, string> { ["Authorization"] = "Bearer x" }),
            Auth = new SourceRules.AuthBody("query", "api_key", null, "s3cr3t"),
        };

        var (valid, errors) = SourceRules.Validate(body, Events, minimumScheduleMinutes: 5);

        Assert.That(valid, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "request.headers.Authorization", "auth.name" }));
    }

    [Test]
    public void Should_refuse_partitions_and_incremental_schedules_without_incremental()
    {
        var body = Body() with
        {
            Incremental = null,
            Partitions = new SourceRules.PartitionsBody(DateTimeOffset.UtcNow.AddDays(-30), 86_400, 4),
            Schedule = new SourceRules.ScheduleBody(15, null),
        };

        var (_, errors) = SourceRules.Validate(body, Events, minimumScheduleMinutes: 5);

        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "partitions", "schedule.mode" }));
    }

    [Test]
    public void Should_refuse_an_incremental_schedule_into_a_dataset_without_a_key_and_allow_a_full_one()
    {
        var keyless = Events with { Key = [] };

        var (incremental, errors) = SourceRules.Validate(Body() with { Schedule = new SourceRules.ScheduleBody(15, "incremental") }, keyless,
            minimumScheduleMinutes: 5);
        var (full, _) = SourceRules.Validate(Body() with { Schedule = new SourceRules.ScheduleBody(15, "full") }, keyless, minimumScheduleMinutes: 5);
        var (keyed, _) = SourceRules.Validate(Body() with { Schedule = new SourceRules.ScheduleBody(15, "incremental") }, Events, minimumScheduleMinutes: 5);

        Assert.That(incremental, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "schedule.mode" }));
        Assert.That(errors["schedule.mode"][0], Does.Contain("has no key").And.Contain("loaded twice"));
        Assert.That(full, Is.Not.Null, "a full schedule reloads, as the tenant chose");
        Assert.That(keyed, Is.Not.Null, "with a key the mark's second merges");
    }

    [Test]
    public void Should_refuse_partitions_that_would_cut_the_history_into_more_than_the_slices_allowed()
    {
        var tooMany = Body() with { Partitions = new SourceRules.PartitionsBody(DateTimeOffset.UtcNow.AddYears(-20), 60, 4) };
        var enough = Body() with { Partitions = new SourceRules.PartitionsBody(DateTimeOffset.UtcNow.AddYears(-20), 86_400, 4) };

        var (refused, errors) = SourceRules.Validate(tooMany, Events, minimumScheduleMinutes: 5);
        var (accepted, _) = SourceRules.Validate(enough, Events, minimumScheduleMinutes: 5);

        Assert.That(refused, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "partitions.sliceSeconds" }));
        Assert.That(errors["partitions.sliceSeconds"].Single(), Does.Contain($"{SourceRules.MaxSlices}"));
        Assert.That(accepted?.Source.Partitions?.SliceSeconds, Is.EqualTo(86_400));
    }

    [Test]
    public void Should_refuse_a_pagination_or_total_path_inside_the_records()
    {
        var body = Body() with
        {
            Pagination = new SourceRules.PaginationBody("Cursor", "$.data[0].next", null, "cursor", null, "$.meta.has_more", null, null, null, "limit", 1000),
            Records = new SourceRules.RecordsBody("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["occurred_at"] = "$.timestamp" }, "$.data"),
        };

        var (valid, errors) = SourceRules.Validate(body, Events, minimumScheduleMinutes: 5);

        Assert.That(valid, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "pagination.cursorPath", "records.totalPath" }));
        Assert.That(errors["pagination.cursorPath"], Has.Some.Contains("inside records.path ($.data)"));
    }

    private static SourceRules.SourceBody Body() => new(
        "events_api",
        "events",
        new SourceRules.RequestBody("https://api.example.com", "/v1/events", null, null),
        null,
        new SourceRules.PaginationBody("Cursor", "$.meta.next_cursor", null, "cursor", null, "$.meta.has_more", null, null, null, "limit", 1000),
        new SourceRules.RecordsBody("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["occurred_at"] = "$.timestamp" }, "$.meta.total"),
        new SourceRules.RateLimitBody([new SourceRules.PolicyBody(10, 60)], null),
        new SourceRules.IncrementalBody("occurred_at", "since", "until", "unixMilliseconds", 60),
        null,
        null);
}
