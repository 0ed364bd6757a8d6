using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// A European bank export: semicolons, a decimal comma with grouped thousands, dates as dd.MM.yyyy, local times in
/// Zurich as MM/dd/yyyy HH:mm, Unix milliseconds, NULL and \N for missing values, and header names that are not the
/// columns'. Declared once on the dataset; uploads override it (no header, another delimiter, escaping) per file.
/// </summary>
public sealed class When_a_partner_sends_its_own_csv_dialect
{
    private readonly string _dataset = "bookings_" + Guid.NewGuid().ToString("N")[..8];
    private readonly TestCsv _ids = new();
    private HttpClient _acme = null!;
    private JsonNode _job = null!;
    private List<RejectRow> _rejects = null!;

    [OneTimeSetUp]
    public async Task RegisterAndLoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        await _acme.CreateDatasetAsync(new
        {
            name = _dataset,
            columns = new object[]
            {
                new { name = "booking_id", type = "uuid", source = "Booking ID" },
                new { name = "booked_on", type = "date", source = "Booking Date", format = "dd.MM.yyyy" },
                new { name = "booked_at", type = "timestamptz", source = "Time", format = "MM/dd/yyyy HH:mm" },
                new { name = "amount", type = "numeric(14,2)", source = "Amount" },
                new { name = "note", type = "text", source = "Note" },
                new { name = "created", type = "timestamptz", source = "Created", format = "unix_milliseconds" },
                new { name = "seen_at", type = "timestamptz" },
            },
            key = new[] { "booking_id" },
            dialect = new
            {
                delimiter = ";",
                decimalSeparator = ",",
                thousandsSeparator = ".",
                nullMarkers = new[] { "NULL", "\\N" },
                timeZone = "Europe/Zurich",
            },
        });

        _job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(_dataset, Encoding.UTF8.GetBytes(string.Join("\r\n",
            "Booking ID;Booking Date;Time;Amount;Note;Created;seen_at",
            $"{Id(2)};01.03.2026;03/01/2026 14:30;1.234,56;\"Kaffee; groß\";1772374200000;2026-03-01 15:00",     // 2 winter: UTC+1
            $"{Id(3)};31.12.2025;07/01/2026 12:00;-0,5;NULL;\\N;2026-07-01T12:00:00Z",                        // 3 summer: UTC+2; nulls
            $"{Id(4)};32.01.2026;03/01/2026 14:30;1,00;;;",                                                    // 4 no such day
            $"{Id(5)};01.03.2026;2026-03-01 14:30;1,00;;;",                                                    // 5 time in another format
            $"{Id(6)};01.03.2026;03/01/2026 14:30;1,23,4;;;",                                                  // 6 not a grouping
            $"{Id(7)};01.03.2026;03/29/2026 02:30;1,00;;;",                                                    // 7 skipped by summer time
            $"{Id(8)};01.03.2026;03/01/2026 14:30;1.234.567,891;;;",                                           // 8 too many decimals
            $"{Id(9)};01.03.2026;03/01/2026 14:30;12.345;;soon;",                                              // 9 not Unix milliseconds
            ""))));
        Assert.That(_job["status"]!.GetValue<string>(), Is.EqualTo("completed"), _job.ToJsonString());
        _rejects = await Rejects.DownloadAsync(_job["rejects"]!["url"]!.GetValue<string>());
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    private string Id(int n) => _ids.Id(n).ToString();

    [Test]
    public async Task Should_load_the_values_as_the_partner_meant_them()
    {
        Assert.That(await RowsAsync(2, 3), Is.EqualTo(new[]
        {
            $"{Id(2)}|2026-03-01|2026-03-01 13:30:00|1234.56|Kaffee; groß|2026-03-01 14:10:00|2026-03-01 14:00:00",
            $"{Id(3)}|2025-12-31|2026-07-01 10:00:00|-0.50|∅|∅|2026-07-01 12:00:00",
        }));
    }

    [Test]
    public void Should_reject_each_value_that_does_not_match_its_format_naming_line_column_and_format()
    {
        Assert.That(_rejects.Select(r => (r.Line, r.Column, r.Reason)), Is.EqualTo(new[]
        {
            (4L, "booked_on", "is not a date in the format dd.MM.yyyy: \"32.01.2026\""),
            (5L, "booked_at", "is not a timestamp in the format MM/dd/yyyy HH:mm: \"2026-03-01 14:30\""),
            (6L, "amount", "is not a number written with digits grouped by '.' with ',' before decimals, e.g. 1.234,56: \"1,23,4\""),
            (7L, "booked_at", "is a time that does not exist in Europe/Zurich (the clocks skip it): \"03/29/2026 02:30\""),
            (8L, "amount", "has more than 2 decimal places: \"1.234.567,891\""),
            (9L, "created", "is not a timestamp in the format unix_milliseconds (a whole number): \"soon\""),
        }));
        Assert.That(_job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(2));
    }

    [Test]
    public async Task Should_describe_the_dialect_on_the_dataset_and_echo_it_on_the_job()
    {
        var dataset = await _acme.GetJsonAsync($"/v1/datasets/{_dataset}");
        Assert.That(dataset["dialect"]!["delimiter"]!.GetValue<string>(), Is.EqualTo(";"));
        Assert.That(dataset["columns"]![1]!["source"]!.GetValue<string>(), Is.EqualTo("Booking Date"));
        Assert.That(dataset["columns"]![1]!["format"]!.GetValue<string>(), Is.EqualTo("dd.MM.yyyy"));
        Assert.That(_job["dialect"]!["decimalSeparator"]!.GetValue<string>(), Is.EqualTo(","));
        Assert.That(_job["dialect"]!["timeZone"]!.GetValue<string>(), Is.EqualTo("Europe/Zurich"));
    }

    [Test]
    public async Task Should_read_a_file_without_a_header_by_the_fields_the_upload_declares()
    {
        var csv = $"1,00|{Id(20)}|ignored|02.03.2026\n\\N|{Id(21)}|x|\n-|{Id(22)}||03.03.2026\n";
        var job = await UploadAsync(csv, "?header=false&delimiter=|&fields=amount,booking_id,,booked_on&thousandsSeparator=none");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["dialect"]!["delimiter"]!.GetValue<string>(), Is.EqualTo("|"));
        Assert.That(job["dialect"]!["header"]!.GetValue<bool>(), Is.False);
        Assert.That(await RowsAsync(20, 21), Is.EqualTo(new[]
        {
            $"{Id(20)}|2026-03-02|∅|1.00|∅|∅|∅",
            $"{Id(21)}|∅|∅|∅|∅|∅|∅",
        }));
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Column)), Is.EqualTo(new[] { (3L, "amount") }), "lines count from 1: there is no header");
    }

    [Test]
    public async Task Should_read_escaped_delimiters_when_the_upload_says_the_file_escapes_instead_of_quoting()
    {
        var csv = $"Booking ID;Note;Amount\n{Id(30)};a\\;b \\\"c\\\";2,5\n";
        var job = await UploadAsync(csv, "?quote=none&escape=%5C");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(await RowsAsync(30), Is.EqualTo(new[] { $"{Id(30)}|∅|∅|2.50|a;b \"c\"|∅|∅" }));
    }

    [Test]
    public async Task Should_take_dialect_options_from_form_fields_too_completing_those_of_the_query()
    {
        // header=false in the query needs the fields of the form: the query alone is not refused before the form is read.
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("tab"), "delimiter");
        form.Add(new StringContent("."), "decimalSeparator");
        form.Add(new StringContent(","), "thousandsSeparator");
        form.Add(new StringContent("booking_id,amount"), "fields");
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes($"{Id(40)}\t\"1,234.5\"\n"));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "export.tsv");
        using var response = await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads?header=false", form);
        Assert.That((int)response.StatusCode, Is.EqualTo(202), await response.Content.ReadAsStringAsync());
        var job = await _acme.WaitForJobEndAsync(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["jobId"]!.GetValue<Guid>());

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(await RowsAsync(40), Is.EqualTo(new[] { $"{Id(40)}|∅|∅|1234.50|∅|∅|∅" }));
    }

    [Test]
    public async Task Should_refuse_a_bad_option_naming_it_and_keep_nothing()
    {
        using var response = await PostAsync("x;y", "?delimiter=x&header=maybe");
        var problem = await response.ProblemAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(new[] { "delimiter", "header" }));

        var keysBefore = await TestRun.Shared.Sandbox.ObjectKeysAsync("uploads/acme/");
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent("Booking ID\n"u8.ToArray());
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "a.csv");
        form.Add(new StringContent("false"), "header");
        using var formResponse = await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads", form);
        var formProblem = await formResponse.ProblemAsync();
        Assert.That(formResponse.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(formProblem["errors"]!["fields"]![0]!.GetValue<string>(), Does.Contain("no header"));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync("uploads/acme/"), Is.EquivalentTo(keysBefore), "the stored file is deleted");
    }

    [Test]
    public async Task Should_refuse_a_dataset_whose_dialect_or_formats_are_wrong_naming_each_field()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "bad_dialect_" + Guid.NewGuid().ToString("N")[..8],
            columns = new object[]
            {
                new { name = "id", type = "uuid" },
                new { name = "on_day", type = "date", format = "MM.yyyy" },
                new { name = "amount", type = "numeric", format = "0.00" },
            },
            key = new[] { "id" },
            dialect = new { delimiter = "#", decimalSeparator = ",", thousandsSeparator = ",", timeZone = "Mars/Olympus", header = false },
        });
        var problem = await response.ProblemAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), problem.ToJsonString());
        Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(new[]
        {
            "columns[1].format", "columns[2].format", "dialect.delimiter", "dialect.thousandsSeparator", "dialect.timeZone", "dialect.fields",
        }));
    }

    private async Task<HttpResponseMessage> PostAsync(string csv, string query)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(csv));
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        return await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads{query}", content);
    }

    private async Task<JsonNode> UploadAsync(string csv, string query)
    {
        using var response = await PostAsync(csv, query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>());
    }

    private async Task<string[]> RowsAsync(params int[] ids) =>
        await TestRun.Shared.Sandbox.ScalarAsync<string[]>($"""
            select array_agg(concat_ws('|', booking_id, coalesce(booked_on::text, '∅'),
                                       coalesce((booked_at at time zone 'UTC')::text, '∅'), coalesce(amount::text, '∅'),
                                       coalesce(note, '∅'), coalesce((created at time zone 'UTC')::text, '∅'),
                                       coalesce((seen_at at time zone 'UTC')::text, '∅'))
                             order by booking_id)
            from tenant_acme.{_dataset} where booking_id = any(@ids)
            """, ("ids", ids.Select(_ids.Id).ToArray())) ?? [];
}
