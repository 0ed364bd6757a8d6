using Ingestion.Workers.Documents;

namespace Ingestion.Tests.Unit;

public sealed class Statement_volumes
{
    private const int Page = 100;

    [Test]
    public void Should_keep_a_statement_that_fits_in_one_volume()
    {
        var plan = StatementPlan.Make(lines: 480, [], budgetBytes: 100 * Page, linePageBytes: Page);

        Assert.That(plan.Volumes, Has.Count.EqualTo(1));
        Assert.That(plan.LinePages, Is.EqualTo(10));
        Assert.That(plan.Pages, Is.EqualTo(3 + 10));
    }

    [Test]
    public void Should_give_an_empty_period_one_page_of_lines()
    {
        var plan = StatementPlan.Make(lines: 0, [], budgetBytes: 100 * Page, linePageBytes: Page);

        Assert.That(plan.Pages, Is.EqualTo(4));
    }

    [Test]
    public void Should_fill_volumes_up_to_the_budget_and_continue_the_lines_in_the_next()
    {
        var plan = StatementPlan.Make(lines: 48 * 20 + 1, [], budgetBytes: 8 * Page, linePageBytes: Page);

        Assert.That(plan.Volumes.Select(v => (v.Front, v.FirstLinePage, v.LinePages)), Is.EqualTo(new[]
        {
            (true, 0, 5), (false, 5, 8), (false, 13, 8),
        }));
        Assert.That(plan.Volumes.Sum(v => v.LinePages), Is.EqualTo(21));
    }

    [Test]
    public void Should_put_an_attachment_too_large_for_the_budget_in_a_volume_of_its_own()
    {
        var small = new Attachment(Guid.NewGuid(), "small.pdf", "k1", Page, 1);
        var huge = new Attachment(Guid.NewGuid(), "huge.pdf", "k2", 50 * Page, 30);
        var plan = StatementPlan.Make(lines: 48, [small, huge], budgetBytes: 10 * Page, linePageBytes: Page);

        Assert.That(plan.Volumes.Select(v => v.Attachments.Select(a => a.FileName)), Is.EqualTo(new[]
        {
            new[] { "small.pdf" }, new[] { "huge.pdf" },
        }));
        Assert.That(plan.Volumes.Select(v => v.Pages), Is.EqualTo(new[] { 3 + 1 + 1, 30 }));
    }
}
