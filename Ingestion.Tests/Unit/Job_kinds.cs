using System.Reflection;
using System.Text.RegularExpressions;
using Ingestion.Api.Jobs;
using Ingestion.Contracts;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Workers.Retention;

namespace Ingestion.Tests.Unit;

/// <summary>
/// The registry of job kinds is complete and consistent, and the rule it exists for holds:
/// outside a kind's own folders, no code names a kind.
/// </summary>
public sealed partial class Job_kinds
{
    /// <summary>Where each kind's own code lives; everything else must reach the kind through the registry.</summary>
    private static readonly Dictionary<string, string[]> OwnFolders = new()
    {
        ["upload"] =
        [
            "Ingestion.Platform/Jobs/Uploads/", "Ingestion.Api/Uploads/", "Ingestion.Workers/Uploads/",
            "Ingestion.Workers/Csv/", "Ingestion.Workers/Copy/", "Ingestion.Workers/JsonLines/",
            "Ingestion.Workers/Parquet/",

            // Not moved while the job layer is rewritten in parallel; they are the kind's own all the same.
            "Ingestion.Workers/StateMachines/Upload", "Ingestion.Workers/Consumers/ProcessUpload",
        ],
        ["statement"] =
        [
            "Ingestion.Platform/Jobs/Statements/", "Ingestion.Platform/Statements/", "Ingestion.Api/Statements/",
            "Ingestion.Workers/Documents/",
            "Ingestion.Workers/StateMachines/Statement", "Ingestion.Workers/Consumers/RenderStatement",
        ],
        ["sync"] =
        [
            "Ingestion.Platform/Jobs/Syncs/", "Ingestion.Api/Syncs/", "Ingestion.Workers/Syncs/",
            "Ingestion.Workers/StateMachines/Sync", "Ingestion.Workers/Consumers/RunSync",
        ],
        ["index-build"] =
        [
            "Ingestion.Platform/Jobs/Indexes/", "Ingestion.Api/Indexes/", "Ingestion.Workers/Indexes/",
            "Ingestion.Workers/StateMachines/IndexBuild", "Ingestion.Workers/Consumers/BuildIndex",
        ],
    };

    /// <summary>The kinds' contracts, one namespace each.</summary>
    private static readonly Dictionary<string, string> Contracts = new()
    {
        ["upload"] = "Ingestion.Contracts.Uploads",
        ["statement"] = "Ingestion.Contracts.Statements",
        ["sync"] = "Ingestion.Contracts.Syncs",
        ["index-build"] = "Ingestion.Contracts.Indexes",
    };

    /// <summary>The registration lines: the one place per host that lists every kind.</summary>
    private static readonly string[] Registrations =
    [
        "Ingestion.Platform/Jobs/JobKinds.cs",
        "Ingestion.Api/Jobs/JobViews.cs",
        "Ingestion.Workers/Extensions/WorkersExtensions.cs",
    ];

    /// <summary>
    /// Files of the job layer's rewrite (another work package) that still name a kind where the
    /// shared name would do; each leaves this list when it stops (the test says so).
    /// </summary>
    private static readonly string[] Pending =
    [
        "Ingestion.Workers/Sagas/JobCancellation.cs",
    ];

    private static readonly string[] Hosts = ["Ingestion.Platform", "Ingestion.Api", "Ingestion.Workers"];

    [Test]
    public void Should_register_every_kind_of_job_state()
    {
        var states = new[] { typeof(JobState), typeof(JobView), typeof(JobPurge) }
            .Select(t => t.Assembly)
            .SelectMany(a => a.GetTypes())
            .Where(t => t.IsSubclassOf(typeof(JobState)) && !t.IsAbstract);

        Assert.That(JobKinds.All.Select(k => k.StateType), Is.EquivalentTo(states));
    }

    [Test]
    public void Should_give_each_kind_its_own_name_queues_and_states()
    {
        Assert.That(JobKinds.All.Select(k => k.Name), Is.Unique);
        Assert.That(JobKinds.All.SelectMany(k => new[] { k.JobsQueue, k.WorkQueue }), Is.Unique);
        foreach (var kind in JobKinds.All)
        {
            Assert.That(kind.States, Is.Unique, kind.Name);
            Assert.That(JobSerializer.KindOf(kind.StateType), Is.EqualTo(kind.Name));
            Assert.That(Queues.JobsOf(kind.Name), Is.EqualTo(kind.JobsQueue));
            Assert.That(kind.FinalStates, Does.Not.Contain(kind.Queued).And.Not.Contain(kind.Running), kind.Name);
            Assert.That(kind.States.Where(kind.IsFinal), Is.EqualTo(kind.FinalStates), kind.Name);
        }
    }

    [Test]
    public void Should_show_every_kind_in_the_api_with_fields_of_its_own()
    {
        var shared = typeof(JobView).GetProperties().Select(p => p.Name);
        var fields = JobKinds.All.SelectMany(k => JobViews.Of(k).Fields).Select(f => f.Name).ToList();

        Assert.That(fields, Is.Unique);
        Assert.That(fields.Intersect(shared), Is.Empty);
    }

    [Test]
    public void Should_declare_only_tables_that_exist_and_belong_to_a_job()
    {
        var migrations = string.Join("\n", Directory.GetFiles(Path.Combine(Root, "Ingestion.Platform/Database/Migrations"), "*.sql")
            .Select(File.ReadAllText));

        foreach (var table in JobKinds.All.SelectMany(k => k.Tables))
        {
            Assert.That(Regex.IsMatch(migrations, $@"create table (if not exists )?ingestion\.{table}\s*\([^;]*\bjob_id\b", RegexOptions.IgnoreCase),
                Is.True, $"ingestion.{table} with a job_id column");
        }
    }

    [Test]
    public void Should_name_a_kind_only_in_its_own_folders()
    {
        Assert.That(OwnFolders.Keys, Is.EquivalentTo(JobKinds.All.Select(k => k.Name)), "every kind says where its folders are");
        var files = Hosts.SelectMany(host => Directory.GetFiles(Path.Combine(Root, host), "*.cs", SearchOption.AllDirectories))
            .Select(path => Path.GetRelativePath(Root, path).Replace('\\', '/'))
            .Where(path => !path.Contains("/bin/", StringComparison.Ordinal) && !path.Contains("/obj/", StringComparison.Ordinal))
            .ToList();
        Assert.That(files, Has.Count.GreaterThan(50), "the scan reads the sources");

        var offences = new List<string>();
        var namesAKind = new HashSet<string>();
        foreach (var kind in JobKinds.All)
        {
            var names = Names(kind);
            foreach (var file in files.Where(f => !OwnFolders[kind.Name].Any(f.StartsWith)))
            {
                var code = Code(File.ReadAllText(Path.Combine(Root, file)));
                var found = names.Where(n => n.IsMatch(code)).Select(n => n.ToString()).ToList();
                if (found.Count == 0)
                {
                    continue;
                }

                namesAKind.Add(file);
                if (!Registrations.Contains(file) && !Pending.Contains(file))
                {
                    offences.Add($"{file} names the {kind.Name} kind ({string.Join(", ", found)})");
                }
            }
        }

        Assert.That(offences, Is.Empty, "reach a kind through JobKinds, or move the code into the kind's folder");
        Assert.That(Pending.Where(f => !namesAKind.Contains(f)), Is.Empty, "no longer names a kind: take it off the pending list");
    }

    [Test]
    public void Should_catch_a_kind_named_outside_its_folders()
    {
        // The scan itself must be able to fail: each way of naming a kind is seen.
        var upload = Names(UploadJob.Descriptor);
        string[] samples =
        [
            "if (job is UploadJob u) { }",
            "var q = Queues.ProcessUpload;",
            "where kind = 'upload'",
            "kind == \"upload\"",
            "await context.Publish(new UploadProcessed(id, 1, 0, 10, null, now));",
            "state is \"Processing\"",
        ];

        Assert.That(samples.Where(s => !upload.Any(n => n.IsMatch(Code(s)))), Is.Empty);
        Assert.That(upload.Any(n => n.IsMatch(Code("// an UploadJob in a comment\nvar x = JobKinds.All;"))), Is.False);
    }

    /// <summary>Every way code names a kind: its state class, its contracts, its queues, its name and its own states as literals.</summary>
    private static List<Regex> Names(JobKind kind)
    {
        var identifiers = new List<string> { kind.StateType.Name };
        identifiers.AddRange(typeof(IJobMessage).Assembly.GetTypes()
            .Where(t => t.IsPublic && t.Namespace == Contracts[kind.Name])
            .Select(t => t.Name));
        identifiers.AddRange(typeof(Queues).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.GetRawConstantValue() is string queue && (queue == kind.JobsQueue || queue == kind.WorkQueue))
            .Select(f => $"Queues.{f.Name}"));
        var literals = new[] { kind.Name, kind.JobsQueue, kind.WorkQueue, kind.Queued, kind.Running, kind.Succeeded };

        return identifiers.Select(i => new Regex($@"\b{Regex.Escape(i)}\b"))
            .Concat(literals.Select(l => new Regex($"[\"']{Regex.Escape(l)}[\"']")))
            .ToList();
    }

    /// <summary>The code without its comments: a comment may tell of a kind.</summary>
    private static string Code(string source) => Comment().Replace(source, "");

    [GeneratedRegex(@"(?<![:""])//[^\n]*")]
    private static partial Regex Comment();

    private static string Root
    {
        get
        {
            var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Ingestion.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new DirectoryNotFoundException("Ingestion.sln is not above the test directory.");
        }
    }
}
