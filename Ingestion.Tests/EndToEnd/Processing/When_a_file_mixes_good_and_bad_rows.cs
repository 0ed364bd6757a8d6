using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// Every row ends up in the table or in the rejects file, with the line it started on and
/// why. The file mixes line endings, carries a BOM, quoted commas, doubled quotes, line
/// breaks inside fields and non-Latin text, and every kind of bad row.
/// </summary>
public sealed class When_a_file_mixes_good_and_bad_rows
{
    private readonly TestCsv _ids = new();
    private HttpClient _acme = null!;
    private JsonNode _job = null!;
    private List<RejectRow> _rejects = null!;
    private Guid _jobId;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        await TestRun.Shared.Sandbox.ExecuteAsync(
            "insert into tenant_acme.transactions (transaction_id, account_id, occurred_at, amount, currency) values (@id, 7, now(), 1, 'CHF')",
            ("id", _ids.Id(17)));

        _jobId = await _acme.StartUploadAsync("transactions", File());
        _job = await _acme.WaitForJobEndAsync(_jobId);
        Assert.That(_job["status"]!.GetValue<string>(), Is.EqualTo("completed"), _job.ToJsonString());
        _rejects = await Rejects.DownloadAsync(_job["rejects"]!["url"]!.GetValue<string>());
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    /// <summary>Line by line; the comments say what each line is and whether it loads.</summary>
    private byte[] File()
    {
        var file = new MemoryStream();
        void Line(string text, string end = "\r\n") => file.Write(Encoding.UTF8.GetBytes(text + end));
        string Id(int line) => _ids.Id(line).ToString();

        file.Write([0xEF, 0xBB, 0xBF]);
        Line(TestCsv.Header);                                                                              // 1 header after a BOM
        Line($"{Id(2)},1,2026-03-01T10:00:00Z,12.50,CHF,Migros,groceries,plain");                          // 2 good
        Line($"{Id(3)},1,2026-03-01T11:00:00+01:00,-4.20,CHF,SBB,travel,\"Coffee, large\"");               // 3 good: quoted comma
        Line($"{Id(4)},1,2026-03-02 09:15,100,CHF,Coop,groceries,\"He said \"\"hi\"\"\"", "\n");           // 4 good: doubled quotes, LF
        Line($"{Id(5)},1,2026-03-03T00:00:00Z,0.01,CHF,Post,fees,\"first line\nsecond line\"");            // 5-6 good: a line break inside
        Line($"{Id(7)},2,2026-03-04T08:00:00Z,7.70,EUR,Zürich Bäckerei,Łódź,Αθήνα 😀", "\n");              // 7 good: non-Latin text
        Line($"{Id(8)},1,2026-03-04T08:00:00Z,7.70,EUR,too,few");                                          // 8 field count
        Line($"not-a-uuid,1,2026-03-04T08:00:00Z,7.70,EUR,,,");                                            // 9 uuid
        Line($"{Id(10)},1,2026-03-04T08:00:00Z,abc,EUR,,,");                                               // 10 numeric
        Line($"{Id(11)},1,yesterday,7.70,EUR,,,");                                                         // 11 timestamp
        Line($"{Id(12)},,2026-03-04T08:00:00Z,7.70,EUR,,,");                                               // 12 required account_id
        Line($"{Id(13)},1,2026-03-04T08:00:00Z,7.70,EURO,,,");                                             // 13 char(3) too long
        file.Write(Encoding.UTF8.GetBytes($"{Id(14)},1,2026-03-04T08:00:00Z,7.70,EUR,bad"));               // 14 invalid UTF-8
        file.Write([0xFF, 0xFE]);
        Line(",,");
        Line($"{Id(15)},1,2026-03-04T08:00:00Z,7.705,EUR,,,");                                             // 15 too many decimals
        Line($"{Id(2)},1,2026-03-05T08:00:00Z,1.00,EUR,,,again");                                          // 16 repeats line 2's key
        Line($"{Id(17)},1,2026-03-05T08:00:00Z,1.00,EUR,,,");                                              // 17 key already in the table
        Line($"{Id(18)},99999999999999999999,2026-03-05T08:00:00Z,1.00,EUR,,,");                           // 18 bigint out of range
        Line($"{Id(19)},1,2026-03-05T08:00:00Z,1.00,EUR,Bob\"s shop,,");                                   // 19 stray quote
        Line($"{Id(20)},3,2026-03-06T08:00:00Z,5,CHF,,,");                                                 // 20 good: optional fields empty
        Line($"{Id(21)},3,2026-03-06T08:00:00Z,5,CHF,Last,good,row", "\n");                                // 21 good
        Line($"{Id(22)},3,2026-03-06T08:00:00Z,5,CHF,\"never closed,x,y");                                 // 22 unclosed quote...
        Line($"{Id(23)},3,2026-03-06T08:00:00Z,5,CHF,swallowed,,");                                        // 23 ...that swallows the rest
        return file.ToArray();
    }

    [Test]
    public async Task Should_load_exactly_the_good_rows_with_their_values()
    {
        var loaded = await TestRun.Shared.Sandbox.ScalarAsync<string[]>("""
            select array_agg(concat_ws('|', account_id, occurred_at at time zone 'UTC', amount, currency,
                                       coalesce(merchant, '∅'), coalesce(category, '∅'), coalesce(description, '∅'))
                             order by occurred_at, amount)
            from tenant_acme.transactions where transaction_id = any(@ids) and account_id <> 7
            """, ("ids", Enumerable.Range(1, 23).Select(_ids.Id).ToArray()));

        Assert.That(loaded, Is.EqualTo(new[]
        {
            "1|2026-03-01 10:00:00|-4.20|CHF|SBB|travel|Coffee, large",
            "1|2026-03-01 10:00:00|12.50|CHF|Migros|groceries|plain",
            "1|2026-03-02 09:15:00|100.00|CHF|Coop|groceries|He said \"hi\"",
            "1|2026-03-03 00:00:00|0.01|CHF|Post|fees|first line\nsecond line",
            "2|2026-03-04 08:00:00|7.70|EUR|Zürich Bäckerei|Łódź|Αθήνα 😀",
            "3|2026-03-06 08:00:00|5.00|CHF|∅|∅|∅",
            "3|2026-03-06 08:00:00|5.00|CHF|Last|good|row",
        }));
        Assert.That(_job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(7));
    }

    [Test]
    public void Should_list_every_bad_row_once_with_its_line_column_and_reason()
    {
        Assert.That(_rejects.Select(r => (r.Line, r.Column)), Is.EqualTo(new[]
        {
            (8L, ""), (9L, "transaction_id"), (10L, "amount"), (11L, "occurred_at"), (12L, "account_id"), (13L, "currency"),
            (14L, ""), (15L, "amount"), (16L, "transaction_id"), (17L, "transaction_id"), (18L, "account_id"), (19L, ""), (22L, ""),
        }));
        var reasons = _rejects.ToDictionary(r => r.Line, r => r.Reason);
        Assert.Multiple(() =>
        {
            Assert.That(reasons[8], Is.EqualTo("has 7 fields; the header has 8"));
            Assert.That(reasons[9], Is.EqualTo("is not a UUID: \"not-a-uuid\""));
            Assert.That(reasons[10], Is.EqualTo("is not a number: \"abc\""));
            Assert.That(reasons[11], Does.StartWith("is not a timestamp (ISO 8601"));
            Assert.That(reasons[12], Is.EqualTo("is required but empty"));
            Assert.That(reasons[13], Is.EqualTo("is 4 characters long; char(3) holds at most 3"));
            Assert.That(reasons[14], Does.StartWith("is not valid UTF-8 (byte 0xFF"));
            Assert.That(reasons[15], Is.EqualTo("has more than 2 decimal places: \"7.705\""));
            Assert.That(reasons[16], Is.EqualTo($"repeats the key (transaction_id)=({_ids.Id(2)}) of line 2"));
            Assert.That(reasons[17], Is.EqualTo($"has the key (transaction_id)=({_ids.Id(17)}), which is already in the table"));
            Assert.That(reasons[18], Does.StartWith("is out of range for bigint"));
            Assert.That(reasons[19], Does.StartWith("has a quote inside an unquoted field"));
            Assert.That(reasons[22], Is.EqualTo("opens a quoted field that is never closed: the record runs from line 22 to the end of the file"));
        });
        Assert.That(_job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(13));
        Assert.That(_job["rejects"]!["count"]!.GetValue<long>(), Is.EqualTo(13));
    }

    [Test]
    public void Should_keep_each_rejected_record_exactly_as_it_was_sent()
    {
        var file = File();
        foreach (var reject in _rejects.Where(r => r.Line != 22))
        {
            Assert.That(file.AsSpan().IndexOf(reject.Record), Is.GreaterThan(0), $"line {reject.Line}'s record is a slice of the upload");
        }

        Assert.That(_rejects.Single(r => r.Line == 14).Record, Does.Contain((byte)0xFF));
        Assert.That(Encoding.UTF8.GetString(_rejects.Single(r => r.Line == 22).Record), Does.EndWith("swallowed,,\r\n"));
    }

    [Test]
    public async Task Should_delete_the_upload_from_s3_once_the_job_completes() =>
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{_jobId:N}"), Is.Empty);
}
