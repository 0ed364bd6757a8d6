namespace Ingestion.Workers.Documents;

/// <summary>What one volume holds: the front pages or not, a run of line pages, whole attachments.</summary>
internal sealed record VolumePlan(int Number, bool Front, int FirstLinePage, int LinePages, IReadOnlyList<Attachment> Attachments)
{
    public int Pages => (Front ? StatementLayout.FrontPages : 0) + LinePages + Attachments.Sum(a => a.Pages);
}

/// <summary>
/// How a statement is cut into volumes, decided before anything is drawn so that every page
/// can say "page 3 of 412" and "volume 2 of 5". PDFsharp holds a whole document in memory
/// until it is saved, so a volume takes pages only while their estimated cost stays within
/// the budget: a line page costs <c>linePageBytes</c> (measured), the front pages three of
/// those, an attachment twice its file size (its objects are parsed and copied in).
/// A volume always takes at least one unit, so a single large attachment gets its own.
/// </summary>
internal sealed record StatementPlan(long Lines, int LinePages, IReadOnlyList<VolumePlan> Volumes)
{
    public int Pages => Volumes.Sum(v => v.Pages);

    public static StatementPlan Make(long lines, IReadOnlyList<Attachment> attachments, long budgetBytes, int linePageBytes)
    {
        // An empty period still gets one page of lines, saying there are none.
        var linePages = (int)Math.Max(1, (lines + StatementLayout.LinesPerPage - 1) / StatementLayout.LinesPerPage);
        var volumes = new List<VolumePlan>();
        var current = new VolumePlan(1, Front: true, 0, 0, []);
        var cost = (long)StatementLayout.FrontPages * linePageBytes;

        var page = 0;
        while (page < linePages)
        {
            var fits = (int)Math.Max(0, (budgetBytes - cost) / linePageBytes);
            if (fits == 0 && (current.LinePages > 0 || current.Front || current.Attachments.Count > 0))
            {
                volumes.Add(current);
                current = new VolumePlan(volumes.Count + 1, Front: false, page, 0, []);
                cost = 0;
                continue;
            }

            var take = Math.Max(1, Math.Min(fits, linePages - page));
            current = current with { LinePages = current.LinePages + take };
            cost += (long)take * linePageBytes;
            page += take;
        }

        foreach (var attachment in attachments)
        {
            var attachmentCost = attachment.Bytes * 2;
            if (cost + attachmentCost > budgetBytes && cost > 0)
            {
                volumes.Add(current);
                current = new VolumePlan(volumes.Count + 1, Front: false, page, 0, []);
                cost = 0;
            }

            current = current with { Attachments = [.. current.Attachments, attachment] };
            cost += attachmentCost;
        }

        volumes.Add(current);
        return new StatementPlan(lines, linePages, volumes);
    }
}
