using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Statements;

/// <summary>
/// A statement reads its totals, then its breakdowns and attachments, then streams its lines.
/// Here a load commits in between: the worker is held, after it read the totals and before it
/// reads the account's attachments, by a lock the test takes on <c>account_documents</c>; more
/// lines of the period are committed; then the lock goes. The statement is read from one
/// snapshot, so the cover and the line pages still tell the same story.
/// </summary>
public sealed partial class When_a_load_commits_while_a_statement_is_read
{
    private const int Lines = 100;
    private const int Late = 30;
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        var csv = new StringBuilder(TestCsv.Header).Append('\n');
        for (var i = 1; i <= Lines; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{Guid.NewGuid()},{_account},2026-03-{1 + i % 28:00}T12:{i % 60:00}:00Z,{Amount(i)},CHF,Shop,misc,Line {i:000}\n");
        }

        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", Encoding.UTF8.GetBytes(csv.ToString())), 120);
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_keep_the_totals_and_the_lines_in_agreement()
    {
        var sandbox = TestRun.Shared.Sandbox;
        Guid job;
        await using (var holder = await sandbox.Db.OpenConnectionAsync())
        await using (var hold = await holder.BeginTransactionAsync())
        {
            await Execute(holder, "lock table ingestion.account_documents in access exclusive mode");
            job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-03-01", to = "2026-03-31" });
            await WaitUntilHeldAsync(sandbox);

            // Lines of the period, earlier than every line above, committed while the statement is being read.
            await sandbox.ExecuteAsync($"""
                insert into tenant_acme.transactions (transaction_id, account_id, occurred_at, amount, currency, merchant, category, description)
                select gen_random_uuid(), @account, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 second', 1000, 'CHF', 'Late', 'misc',
                       'Late line ' || i
                from generate_series(1, {Late}) i
                """, ("account", _account));
            await hold.RollbackAsync();
        }

        var ready = await _acme.WaitForJobEndAsync(job, 90);
        Assert.That(ready["status"]!.GetValue<string>(), Is.EqualTo("ready"), ready.ToJsonString());
        var pages = Pdfs.Pages((await Pdfs.DownloadAsync(_acme, job)).Bytes).Select(p => Whitespace().Replace(p, " ")).ToList();
        var listed = pages.Skip(3).SelectMany(p => LinePattern().Matches(p)).ToList();
        var expected = Enumerable.Range(1, Lines).Select(Amount).ToList();

        Assert.That(pages[0], Does.Contain(
            $"CHF 0.00 {Money(expected.Where(a => a > 0).Sum())} {Money(expected.Where(a => a < 0).Sum())} {Money(expected.Sum())} {Lines}"),
            "the cover: opening, in, out, closing and count of the lines committed when the statement began");
        Assert.That(listed, Has.Count.EqualTo(Lines), "as many lines on the pages as the cover counts");
        Assert.That(string.Join(' ', pages), Does.Not.Contain("Late line"), "nothing committed after the statement began");
        Assert.That(listed[^1].Groups["balance"].Value, Is.EqualTo(Money(expected.Sum())), "the last running balance is the cover's closing");
    }

    private static decimal Amount(int line) => line % 3 == 0 ? 100 + line : -(10 + line / 10m);

    /// <summary>Until the statement's reader waits for the lock: it has read the totals, and not yet the lines.</summary>
    private static async Task WaitUntilHeldAsync(Sandbox sandbox)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await sandbox.ScalarAsync<long>("""
                   select count(*) from pg_stat_activity
                   where datname = current_database() and wait_event_type = 'Lock' and query like '%ingestion.account_documents%'
                   """) == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the statement never reached its attachments");
            await Task.Delay(50);
        }
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string Money(decimal amount) => amount.ToString("#,##0.00;−#,##0.00", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>A line of a line page: date, description, merchant, category, amount, running balance, currency.</summary>
    [GeneratedRegex(@"2026-03-\d\d (?:Late )?[Ll]ine \d+ \S+ misc (?<amount>−?[\d,]+\.\d\d) (?<balance>−?[\d,]+\.\d\d) CHF")]
    private static partial Regex LinePattern();
}
