using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.EndToEnd.Statements;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// An account's transactions and summary, read the way a banking app's transaction list does,
/// and checked against the statement the product renders for the same period.
/// </summary>
public sealed partial class When_an_account_is_read
{
    private const int Lines = 120;
    private static readonly string[] Categories = ["groceries", "travel", "rent", "salary", "fees"];
    private readonly long _account = Random.Shared.NextInt64(100_000_000, 900_000_000);
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        await _acme.LoadAsync("transactions", Transactions());
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    private byte[] Transactions()
    {
        var rows = new List<string>();
        void Row(long account, DateTime at, decimal amount, string currency, string? category, string description) =>
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"{Id(account, at)},{account},{at:yyyy-MM-ddTHH:mm:ssZ},{amount},{currency},Shop,{category},{description}"));

        Row(_account, new DateTime(2025, 12, 15, 9, 0, 0), 1000.00m, "CHF", "salary", "Before the period");
        Row(_account, new DateTime(2025, 12, 20, 9, 0, 0), 50.00m, "EUR", "salary", "Before the period");
        for (var i = 1; i <= Lines; i++)
        {
            Row(_account, At(i), Amount(i), i % 6 == 0 ? "EUR" : "CHF", i % 11 == 0 ? null : Categories[i % 5], $"Line {i:000}");
        }

        Row(_account, new DateTime(2026, 4, 15, 9, 0, 0), 5.00m, "CHF", "travel", "After the period");
        Row(_account + 1, At(5), 1.00m, "CHF", "travel", "Another account");
        return ReadClient.Csv(TestCsv.Header, rows);
    }

    private static Guid Id(long account, DateTime at) =>
        Guid.Parse($"{account % 100_000_000:x8}-0000-4000-8000-{at.Ticks / TimeSpan.TicksPerSecond % 0xffffffffffff:x12}");

    /// <summary>Some lines share a timestamp, so the order's tie-breaker shows.</summary>
    private static DateTime At(int line) => new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(line / 2 * 17).AddSeconds(line % 2);

    private static decimal Amount(int line) => line % 3 == 0 ? 100 + line : -(10 + line / 10m);

    [Test]
    public async Task Should_list_transactions_newest_first_page_by_page()
    {
        var rows = await _acme.ReadAllPagesAsync($"/v1/accounts/{_account}/transactions?from=2026-01-01&to=2026-03-31&limit=7",
            "transactions");

        var expected = Enumerable.Range(1, Lines).Where(i => At(i) < new DateTime(2026, 4, 1)).OrderByDescending(At)
            .Select(i => $"Line {i:000}").ToList();
        Assert.That(rows.Select(r => r["description"]!.GetValue<string>()), Is.EqualTo(expected));
        Assert.That(rows.Select(r => r["account_id"]!.GetValue<long>()), Has.All.EqualTo(_account));
    }

    [Test]
    public async Task Should_filter_by_category_and_period()
    {
        var rows = await _acme.ReadAllPagesAsync($"/v1/accounts/{_account}/transactions?from=2026-01-10&to=2026-02-10&category=travel",
            "transactions");

        var expected = Enumerable.Range(1, Lines)
            .Where(i => i % 11 != 0 && Categories[i % 5] == "travel" && At(i) >= new DateTime(2026, 1, 10) && At(i) < new DateTime(2026, 2, 11))
            .OrderByDescending(At).Select(i => $"Line {i:000}").ToList();
        Assert.That(expected, Is.Not.Empty);
        Assert.That(rows.Select(r => r["description"]!.GetValue<string>()), Is.EqualTo(expected));
    }

    [TestCase("from=2026-13-01", "from")]
    [TestCase("from=2026-03-01&to=2026-01-01", "from")]
    [TestCase("limit=0", "limit")]
    [TestCase("cursor=abc", "cursor")]
    public async Task Should_refuse_a_bad_parameter_by_name(string query, string parameter)
    {
        using var response = await _acme.GetAsync($"/v1/accounts/{_account}/transactions?{query}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["errors"]![parameter], Is.Not.Null);
    }

    [Test]
    public async Task Should_give_the_statements_figures_for_the_same_period()
    {
        var summary = await _acme.GetJsonAsync($"/v1/accounts/{_account}/summary?from=2026-01-01&to=2026-03-31");
        var job = await When_a_statement_is_requested.RequestAsync(_acme, new { accountId = _account, from = "2026-01-01", to = "2026-03-31" });
        Assert.That((await _acme.WaitForJobEndAsync(job, 90))["status"]!.GetValue<string>(), Is.EqualTo("ready"));
        var pages = Pdfs.Pages((await Pdfs.DownloadAsync(_acme, job)).Bytes).Select(p => Whitespace().Replace(p, " ")).ToList();

        var currencies = summary["currencies"]!.AsArray();
        Assert.That(currencies.Select(c => c!["currency"]!.GetValue<string>()), Is.EquivalentTo(new[] { "CHF", "EUR" }));
        foreach (var c in currencies)
        {
            Assert.That(pages[0], Does.Contain(
                $"{c!["currency"]} {Money(c["opening"]!)} {Money(c["moneyIn"]!)} {Money(c["moneyOut"]!)} {Money(c["closing"]!)} {c["count"]}"),
                "the cover's line of this currency: opening, in, out, closing, count");
        }

        var chf = currencies.Single(c => c!["currency"]!.GetValue<string>() == "CHF")!;
        var inPeriod = Enumerable.Range(1, Lines).Where(i => i % 6 != 0 && At(i) < new DateTime(2026, 4, 1)).Select(Amount).ToList();
        Assert.That(chf["opening"]!.GetValue<decimal>(), Is.EqualTo(1000.00m));
        Assert.That(chf["moneyIn"]!.GetValue<decimal>(), Is.EqualTo(inPeriod.Where(a => a > 0).Sum()));
        Assert.That(chf["count"]!.GetValue<long>(), Is.EqualTo(inPeriod.Count));

        var categories = summary["categories"]!.AsArray();
        Assert.That(categories.Select(c => c!["label"]!.GetValue<string>()), Does.Contain("(none)"));
        foreach (var c in categories)
        {
            Assert.That(pages[1], Does.Contain(
                $"{c!["label"]} {c["currency"]} {Money(c["moneyIn"]!)} {Money(c["moneyOut"]!)} {Money(c["net"]!)} {c["count"]}"),
                "the statement's category table");
        }

        Assert.That(summary["months"]!.AsArray().Select(m => m!["label"]!.GetValue<string>()).Distinct(),
            Is.EqualTo(Enumerable.Range(1, Lines).Select(i => At(i).ToString("yyyy-MM", CultureInfo.InvariantCulture)).Distinct()));
        Assert.That(pages[2], Does.Contain("By month"));
    }

    [Test]
    public async Task Should_answer_another_tenant_404()
    {
        using var transactions = await _globex.GetAsync($"/v1/accounts/{_account}/transactions");
        using var summary = await _globex.GetAsync($"/v1/accounts/{_account}/summary");

        Assert.That(transactions.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(summary.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await summary.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Unknown account"));
    }

    [Test]
    public async Task Should_change_the_etag_only_when_a_load_touches_the_account()
    {
        var account = _account + 7;
        var neighbour = _account + 8;
        await _acme.LoadAsync("transactions", ReadClient.Csv(TestCsv.Header, [Line(account, 1), Line(neighbour, 1)]));
        var paths = new[] { $"/v1/accounts/{account}/transactions", $"/v1/accounts/{account}/summary?from=2026-01-01&to=2026-01-31" };
        var etags = new List<string>();
        foreach (var path in paths)
        {
            using var first = await _acme.ReadAsync(path);
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            etags.Add(first.Headers.ETag!.ToString());
            using var again = await _acme.ReadAsync(path, ifNoneMatch: etags[^1]);
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.NotModified), path);
        }

        await _acme.LoadAsync("transactions", ReadClient.Csv(TestCsv.Header, [Line(neighbour, 2)]));
        for (var i = 0; i < paths.Length; i++)
        {
            using var response = await _acme.ReadAsync(paths[i], ifNoneMatch: etags[i]);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotModified), $"{paths[i]} after another account's load");
        }

        await _acme.LoadAsync("transactions", ReadClient.Csv(TestCsv.Header, [Line(account, 2)]));
        for (var i = 0; i < paths.Length; i++)
        {
            using var response = await _acme.ReadAsync(paths[i], ifNoneMatch: etags[i]);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{paths[i]} after this account's load");
            Assert.That(response.Headers.ETag!.ToString(), Is.Not.EqualTo(etags[i]));
        }
    }

    /// <summary>
    /// The built-in transactions dataset rejects a repeated key; a tenant whose transactions upsert lets a
    /// load move a transaction to another account, and the account it left shows a change as much as the
    /// one it joined. Acme's definition upserts for the length of the test.
    /// </summary>
    [Test]
    public async Task Should_change_the_etag_of_both_accounts_when_an_upsert_moves_a_transaction()
    {
        var (from, to) = (_account + 20, _account + 21);
        var moved = Guid.NewGuid();
        await _acme.LoadAsync("transactions", ReadClient.Csv(TestCsv.Header,
            [$"{moved},{from},2026-01-05T10:00:00Z,-7.00,CHF,Shop,fees,Moved", Line(from, 6), Line(to, 6)]));
        var paths = new[] { $"/v1/accounts/{from}/transactions?from=2026-01-01&to=2026-01-31", $"/v1/accounts/{to}/transactions?from=2026-01-01&to=2026-01-31" };
        var etags = new List<string>();
        foreach (var path in paths)
        {
            using var first = await _acme.ReadAsync(path);
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK), path);
            etags.Add(first.Headers.ETag!.ToString());
        }

        await SetTransactionsConflictPolicyAsync("Upsert");
        try
        {
            await _acme.LoadAsync("transactions", ReadClient.Csv(TestCsv.Header, [$"{moved},{to},2026-01-05T10:00:00Z,-7.00,CHF,Shop,fees,Moved"]));
        }
        finally
        {
            await SetTransactionsConflictPolicyAsync("Reject");
        }

        for (var i = 0; i < paths.Length; i++)
        {
            using var response = await _acme.ReadAsync(paths[i], ifNoneMatch: etags[i]);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{paths[i]} after the move");
            var ids = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["transactions"]!.AsArray()
                .Select(t => t!["transaction_id"]!.GetValue<Guid>());
            Assert.That(ids.Contains(moved), Is.EqualTo(i == 1), paths[i]);
        }
    }

    private static Task SetTransactionsConflictPolicyAsync(string policy) =>
        TestRun.Shared.Sandbox.ExecuteAsync("""
            update ingestion.datasets set definition = jsonb_set(definition, '{onKeyConflict}', to_jsonb(@policy::text))
            where tenant_id = 'acme' and name = 'transactions'
            """, ("policy", policy));

    [Test]
    public async Task Should_tag_a_summary_with_its_period_so_the_default_one_changes_with_the_date()
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var monthSoFar = $"from={today:yyyy-MM-01}&to={today:yyyy-MM-dd}";
        using var byDefault = await _acme.ReadAsync($"/v1/accounts/{_account}/summary");
        Assert.That(byDefault.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var etag = byDefault.Headers.ETag!.ToString();
        Assume.That(DateOnly.FromDateTime(DateTime.UtcNow), Is.EqualTo(today), "the date changed during the test");

        // The same account counter, another period: what the default period becomes after midnight or at a month's end.
        using var explicitly = await _acme.ReadAsync($"/v1/accounts/{_account}/summary?{monthSoFar}", ifNoneMatch: etag);
        Assert.That(explicitly.StatusCode, Is.EqualTo(HttpStatusCode.NotModified), "the period it resolves to is the same figures");
        using var otherPeriod = await _acme.ReadAsync($"/v1/accounts/{_account}/summary?from=2026-01-01&to=2026-01-31", ifNoneMatch: etag);
        Assert.That(otherPeriod.StatusCode, Is.EqualTo(HttpStatusCode.OK), "another period's figures are not the default period's");
        Assert.That(otherPeriod.Headers.ETag!.ToString(), Is.Not.EqualTo(etag));
        Assert.That(JsonNode.Parse(await otherPeriod.Content.ReadAsStringAsync())!["from"]!.GetValue<string>(), Is.EqualTo("2026-01-01"));
    }

    private static string Line(long account, int day) =>
        $"{Guid.NewGuid()},{account},2026-01-{day:00}T10:00:00Z,-12.50,CHF,Shop,fees,Line";

    private static string Money(JsonNode amount) =>
        amount.GetValue<decimal>().ToString("#,##0.00;−#,##0.00", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
