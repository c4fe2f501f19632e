// `pidvisor import` of supervisord files, checked against supervisord itself: Debian's
// `supervisor` package parses the same files with its own code (supervisor/options.py, via
// test/fixtures/import/supervisord-dump.py), and every process it makes must come out of the
// import with the same command, environment, directory and policies. The files are Debian's
// own (/etc/supervisor/supervisord.conf, the sample of echo_supervisord_conf) and edge cases.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSupervisord } from '../../import/supervisord/import.js';
import { ImportError, type ImportResult } from '../../import/result.js';
import { shlexSplit } from '../../import/supervisord/shlex.js';

const DUMP = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/import/supervisord-dump.py');
// Debian's python3, which has the supervisor package (a pyenv python on PATH would not).
const PYTHON = '/usr/bin/python3';

function supervisordMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import supervisor.options'], { stdio: 'ignore' });
    execFileSync('echo_supervisord_conf', [], { stdio: 'ignore' });
    return null;
  } catch {
    return 'supervisord is not installed (Debian package supervisor)';
  }
}
const missing = supervisordMissing();

interface SupervisordProcess {
  group: string;
  name: string;
  command: string;
  directory: string | null;
  environment: Record<string, string>;
  autostart: boolean;
  autorestart: 'true' | 'false' | 'unexpected';
  exitcodes: number[];
  startsecs: number;
  startretries: number;
  stopsignal: number;
  stopwaitsecs: number;
  stopasgroup: boolean;
  killasgroup: boolean;
  umask: number | null;
  uid: number | null;
  redirect_stderr: boolean;
  stdout_logfile: string | null;
  stderr_logfile: string | null;
}

interface SupervisordReading {
  processes?: SupervisordProcess[];
  error?: string;
}

/** What supervisord makes of each file (one Python start for all of them). */
function supervisordReads(...files: string[]): SupervisordReading[] {
  const output = execFileSync(PYTHON, [DUMP, ...files], { encoding: 'utf8', cwd: path.dirname(files[0]!) });
  return output.trim().split('\n').map((line) => JSON.parse(line) as SupervisordReading);
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

/** Every process supervisord makes is a service of the import, the same in every field that maps. */
function expectSameAsSupervisord(file: string): ImportResult {
  const [reference] = supervisordReads(file);
  expect(reference!.error).toBeUndefined();
  const result = importSupervisord(file);
  expect(result.services.map((s) => s.spec.env?.SUPERVISOR_PROCESS_NAME).sort()).toEqual(reference!.processes!.map((p) => p.name).sort());
  for (const expected of reference!.processes!) {
    const service = result.services.find((s) => s.spec.env?.SUPERVISOR_PROCESS_NAME === expected.name && s.spec.labels?.group === expected.group);
    expect(service, `${expected.group}:${expected.name}`).toBeDefined();
    const { spec } = service!;
    expect(spec.command).toEqual(shlexSplit(expected.command));
    expect(spec.env).toEqual({ ...expected.environment, SUPERVISOR_PROCESS_NAME: expected.name, SUPERVISOR_GROUP_NAME: expected.group });
    expect(spec.cwd ?? null).toBe(expected.directory);
    expect(spec.autostart ?? true).toBe(expected.autostart);
    expect(spec.restart!.policy).toBe({ true: 'always', false: 'no', unexpected: 'on-failure' }[expected.autorestart]);
    if (expected.autorestart === 'unexpected') expect(spec.restart!.successCodes).toEqual(expected.exitcodes);
    expect(spec.startGraceMs).toBe(expected.startsecs * 1000);
    expect(spec.restart!.maxRestarts).toBe(expected.startretries);
    const signal = typeof spec.stopSignal === 'number' ? spec.stopSignal : SIGNAL_NUMBERS[spec.stopSignal as string];
    expect(signal).toBe(expected.stopsignal);
    expect(spec.stopTimeoutMs).toBe(expected.stopwaitsecs * 1000);
    expect(spec.killMode).toBe(expected.stopasgroup || expected.killasgroup ? 'group' : 'process');
    expect(spec.umask ?? null).toBe(expected.umask);
    if (expected.uid !== null) expect(typeof spec.user === 'number' ? spec.user : Number(execFileSync('id', ['-u', String(spec.user)], { encoding: 'utf8' }).trim())).toBe(expected.uid);
    else expect(spec.user).toBeUndefined();
    expect(spec.stdout ?? 'capture').toBe(expected.stdout_logfile === null ? 'null' : 'capture');
    // Redirected, stderr goes where stdout goes (supervisord then reports stderr_logfile None).
    const stderrLog = expected.redirect_stderr ? expected.stdout_logfile : expected.stderr_logfile;
    expect(spec.stderr ?? 'capture').toBe(stderrLog === null ? 'null' : 'capture');
  }
  return result;
}

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-import-supervisord-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

describe.skipIf(missing !== null)(`supervisord import${missing === null ? '' : ` (skipped: ${missing})`}`, () => {
  it("reads echo_supervisord_conf's sample program, every setting uncommented, as supervisord does", () => {
    // The sample as a user edits it: the [program:x] and [group:x] blocks uncommented, with
    // paths and a user that exist here.
    const sample = execFileSync('echo_supervisord_conf', { encoding: 'utf8' });
    let inBlock = false;
    const edited = sample
      .split('\n')
      .map((line) => {
        if (/^;\[(program|group):/u.test(line)) inBlock = true;
        else if (line.trim() === '') inBlock = false;
        if (!inBlock) return line;
        return line
          .replace(/^;/u, '')
          .replace('chrism', 'root')
          .replace('/a/path', path.join(dir, 'sample.log'))
          .replace('%(program_name)s ;', '%(program_name)s_%(process_num)s ;')
          .replace('numprocs=1 ', 'numprocs=2 ')
          .replace('progname1,progname2', 'theprogramname');
      })
      .join('\n');
    const result = expectSameAsSupervisord(write('sample/supervisord.conf', edited));
    expect(result.services.map((s) => s.name)).toEqual(['thegroupname.theprogramname_0', 'thegroupname.theprogramname_1']);
    const settings = result.notes.map((note) => `${note.entry} ${note.setting}`);
    for (const setting of ['priority', 'stdout_logfile', 'stdout_logfile_maxbytes', 'stdout_syslog', 'stderr_events_enabled', 'serverurl']) expect(settings).toContain(`[program:theprogramname] ${setting}`);
    expect(settings).toContain('[group:thegroupname] priority');
    expect(settings).toContain('[unix_http_server] (section)');
  });

  it("reads Debian's /etc/supervisor/supervisord.conf with its [include] of conf.d", () => {
    // Debian's file includes /etc/supervisor/conf.d/*.conf; here conf.d beside the copy.
    const debian = fs.readFileSync('/etc/supervisor/supervisord.conf', 'utf8').replace('/etc/supervisor/conf.d/*.conf', 'conf.d/*.conf');
    const main = write('debian/supervisord.conf', debian);
    write('debian/conf.d/web.conf', '[program:web]\ncommand=/usr/bin/env python3 -m http.server 8080\ndirectory=%(here)s\n');
    write('debian/conf.d/queue.conf', '[program:queue]\ncommand=sleep 1000\nenvironment=QUEUE="jobs,mail"\nautorestart=true\n');
    const result = expectSameAsSupervisord(main);
    // Included files are read in sorted order, as supervisord globs them.
    expect(result.services.map((s) => s.name)).toEqual(['queue', 'web']);
    expect(result.services[1]!.spec.cwd).toBe(path.join(dir, 'debian/conf.d'));
  });

  it('reads the edge cases as supervisord does: comments, continuations, [DEFAULT], expansions, quoting, groups, includes', () => {
    write('edge/conf.d/b.conf', '[program:fromconfd]\ncommand=/bin/echo %(here)s\ndirectory=%(here)s\n');
    write('edge/conf.d/a.conf', '[program:aaa]\ncommand=sleep 5\n[program:web]\nstartretries=7\n');
    write('edge/extra/1.ini', '[program:x1]\ncommand=true\n');
    write('edge/conf.d/.hidden.conf', '[program:hidden]\ncommand=true\n');
    const main = write(
      'edge/supervisord.conf',
      `; main file
[supervisord]
environment=GLOBAL="g1",SHARED=from-global

[DEFAULT]
startsecs = 2

[include]
files = conf.d/*.conf
	extra/?.ini

; the web workers
[program:web]
command = /bin/sh -c "echo %(program_name)s-%(process_num)02d; sleep 100"  ; inline comment
  --flag "a b" 'c;d' e\\ f
process_name=web_%(process_num)02d
numprocs=3
numprocs_start=1
directory=%(here)s
environment=A="x,y",B='single',C=plain/path:1.2,D="with#hash",PORT=80%(process_num)02d,HOME_COPY="%(ENV_HOME)s",HOME="%(ENV_HOME)s/sub"
URL: http://example.com/#frag;not-a-comment a;b ;c #d
autorestart=TRUE
stopsignal=int
stopasgroup=true
exitcodes=0,2
stdout_logfile=NONE
redirect_stderr=true

[group:front]
programs=api,web2
priority=10

[program:api]
command=printf '%%s\\n' "%(ENV_HOME)s" %(group_name)s
autorestart=false
user=root
umask=027
stopwaitsecs=3
killasgroup=true

[program:semi]
command=/bin/echo a;b ;c #d
environment=E=ab#cd,F=1

[program:web2]
command=/bin/true
environment=X="hello world",Y=2,Z=dropped word
stdout_logfile=%(here)s/web2.log
stderr_logfile=NONE
`,
    );
    const result = expectSameAsSupervisord(main);
    expect(result.services.map((s) => s.name)).toEqual(['web_01', 'web_02', 'web_03', 'front.api', 'semi', 'front.web2', 'aaa', 'fromconfd', 'x1']);
    // configparser's rounds: the first ';' (not after a space) and the first '#' (after one) are
    // looked at together, and the '#' wins, so ' ;c' stays in the value.
    expect(result.services.find((s) => s.name === 'semi')!.spec.command).toEqual(['/bin/echo', 'a;b', ';c']);
    // In an environment, '#' (not after a space, so not an INI comment) makes shlex skip the rest of the line: F is lost, as in supervisord.
    expect(result.services.find((s) => s.name === 'semi')!.spec.env).toMatchObject({ E: 'ab' });
    expect(result.services.find((s) => s.name === 'semi')!.spec.env!.F).toBeUndefined();
    const web = result.services[0]!;
    expect(web.comments).toContain('the web workers');
    expect(web.spec.command).toEqual(['/bin/sh', '-c', 'echo web-01; sleep 100', '--flag', 'a b', 'c;d', 'e f']);
    expect(web.spec.env).toMatchObject({ A: 'x,y', D: 'with#hash', PORT: '8001', HOME_COPY: os.homedir() });
    expect(web.spec.restart).toMatchObject({ policy: 'always', maxRestarts: 7 });
    const notes = result.notes.map((note) => `${note.kind} ${note.entry} ${note.setting}`);
    expect(notes).toEqual(
      expect.arrayContaining([
        'unmapped [program:web] url',
        'approximated [program:web] redirect_stderr',
        'approximated [program:web] environment',
        'approximated [program:api] autorestart',
        'approximated [program:api] killasgroup',
        'approximated [program:web2] environment',
        'unmapped [program:web2] stdout_logfile',
        'unmapped [group:front] priority',
      ]),
    );
    expect(result.notes.find((note) => note.setting === 'environment' && note.entry === '[program:web2]')!.reason).toMatch(/"word"/u);
  });

  it('refuses what supervisord refuses, with its reason', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['unclosed.conf', '[program:a]\ncommand=sleep 1\nenvironment=A="x #y"\n', /No closing quotation/u],
      ['group.conf', '[program:a]\ncommand=sleep 1\nstopasgroup=true\nkillasgroup=false\n', /Cannot set stopasgroup=true and killasgroup=false/u],
      ['numprocs.conf', '[program:a]\ncommand=sleep 1\nnumprocs=2\n', /process_num\) must be present within process_name/u],
      ['nocommand.conf', '[program:a]\ndirectory=/tmp\n', /does not specify a command/u],
      ['badname.conf', '[program:a]\ncommand=sleep 1\nprocess_name=a b\n', /Invalid name/u],
      ['expansion.conf', '[program:a]\ncommand=sleep %(nope)s\n', /which cannot be expanded/u],
      ['percent.conf', '[program:a]\ncommand=echo 100%\n', /badly formatted/u],
      ['signal.conf', '[program:a]\ncommand=sleep 1\nstopsignal=NOPE\n', /not a valid signal name/u],
      ['bool.conf', '[program:a]\ncommand=sleep 1\nautostart=maybe\n', /not a valid boolean value/u],
      ['exitcodes.conf', '[program:a]\ncommand=sleep 1\nexitcodes=0,256\n', /not a valid list of exit codes/u],
      ['unknowngroup.conf', '[group:g]\nprograms=missing\n', /names unknown program/u],
      ['noheader.conf', 'command=sleep 1\n', /no section headers/u],
      ['syntax.conf', '[program:a]\ncommand=sleep 1\njust words\n', /parsing errors/u],
      ['envpairs.conf', '[program:a]\ncommand=sleep 1\nenvironment=X=hello world,Y=2\n', /Unexpected end of key\/value pairs/u],
    ];
    const files = cases.map(([name, text]) => write(`refused/${name}`, name === 'noheader.conf' ? text : `[supervisord]\n${text}`));
    const readings = supervisordReads(...files);
    cases.forEach(([name, , message], index) => {
      expect(readings[index]!.error, name).toMatch(message);
      expect(() => importSupervisord(files[index]!), name).toThrow(ImportError);
      expect(() => importSupervisord(files[index]!), name).toThrow(message);
    });
  });
});
