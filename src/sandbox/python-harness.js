/**
 * The Python side of the sandbox worker, run once per interpreter before any untrusted code: `_tribunal_run` executes
 * one candidate program and its tests in a fresh namespace and returns the outcome as a JSON string;
 * `_tribunal_check_taint` says whether a run changed interpreter state that a fresh namespace does not reset.
 * What a "test" is: see docs/sandbox.md (each top-level statement of `check` that contains an `assert`).
 */
export const HARNESS_PY = String.raw`
import ast as _ast
import builtins as _builtins
import json as _json
import linecache as _linecache
import os as _os
import sys as _sys
import traceback as _traceback

_USER_FILES = ('<candidate>', '<tests>')
_MAX_TRACEBACK = 4000
_MAX_MESSAGE = 1000


def _tribunal_split(source, filename, body_of):
    """Compiles each top-level statement of a body separately: (is_test, line, code) per statement."""
    plan = []
    for statement in body_of:
        if isinstance(statement, _ast.Expr) and isinstance(getattr(statement, 'value', None), _ast.Constant) \
                and isinstance(statement.value.value, str):
            continue
        is_test = any(isinstance(node, _ast.Assert) for node in _ast.walk(statement))
        code = compile(_ast.Module(body=[statement], type_ignores=[]), filename, 'exec')
        plan.append((is_test, statement.lineno, code))
    return plan


def _tribunal_plan(tests, entry_point):
    """How to run the tests: ('check', parameter, plan) for HumanEval's check(candidate), ('module', None, plan)
    for top-level asserts, parsed and compiled BEFORE the candidate runs so it cannot change how they are split."""
    tree = _ast.parse(tests, '<tests>')
    check = None
    for node in tree.body:
        if isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef)) and node.name == 'check':
            check = node
    if check is not None and entry_point is None:
        raise ValueError('the tests define check(candidate) but no entry point was given to pass to it')
    if check is not None and len(check.args.args) >= 1 and not isinstance(check, _ast.AsyncFunctionDef):
        kind, parameter, body = 'check', check.args.args[0].arg, check.body
    else:
        kind, parameter, body = 'module', None, tree.body
    plan = _tribunal_split(tests, '<tests>', body)
    if body and not any(is_test for is_test, _, _ in plan):
        # No assert at the top level (the checks live in helpers, or raise on failure): the whole body is one test.
        plan = [(True, body[0].lineno, compile(_ast.Module(body=body, type_ignores=[]), '<tests>', 'exec'))]
    return (kind, parameter, plan)


def _tribunal_error(error, where):
    frames = _traceback.extract_tb(error.__traceback__)
    user = [frame for frame in frames if frame.filename in _USER_FILES]
    lines = ['Traceback (most recent call last):\n']
    lines += _traceback.format_list(user)
    lines += _traceback.format_exception_only(type(error), error)
    text = ''.join(lines)
    if len(text) > _MAX_TRACEBACK:
        text = text[:_MAX_TRACEBACK] + '\n... (traceback truncated)'
    message = str(error)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + '...'
    result = {'type': type(error).__name__, 'message': message, 'traceback': text, 'where': where}
    if user:
        result['file'] = user[-1].filename
        result['line'] = user[-1].lineno
    return result


def _tribunal_status(error):
    return 'memory' if isinstance(error, MemoryError) else None


def _tribunal_run(code, tests, entry_point, max_tests):
    outcome = {'status': 'passed', 'tests': []}
    _linecache.cache['<candidate>'] = (len(code), None, code.splitlines(True), '<candidate>')
    plan = None
    if tests is not None:
        _linecache.cache['<tests>'] = (len(tests), None, tests.splitlines(True), '<tests>')
        try:
            plan = _tribunal_plan(tests, entry_point)
        except (SyntaxError, ValueError) as error:
            outcome['status'] = 'error'
            outcome['error'] = _tribunal_error(error, 'tests')
            return _json.dumps(outcome)
    namespace = {'__name__': '__main__', '__builtins__': _builtins}
    try:
        exec(compile(code, '<candidate>', 'exec'), namespace)
    except (Exception, SystemExit) as error:
        outcome['status'] = _tribunal_status(error) or 'error'
        outcome['error'] = _tribunal_error(error, 'candidate')
        return _json.dumps(outcome)
    if plan is None:
        return _json.dumps(outcome)
    kind, parameter, statements = plan
    if kind == 'check':
        if entry_point not in namespace:
            outcome['status'] = 'error'
            outcome['error'] = {'type': 'NameError', 'message': f'the entry point {entry_point!r} is not defined by the candidate',
                                'traceback': '', 'where': 'candidate'}
            return _json.dumps(outcome)
        try:
            exec(compile(tests, '<tests>', 'exec'), namespace)
        except (Exception, SystemExit) as error:
            outcome['status'] = _tribunal_status(error) or 'error'
            outcome['error'] = _tribunal_error(error, 'tests')
            return _json.dumps(outcome)
        environment = dict(namespace)
        environment[parameter] = namespace[entry_point]
    else:
        environment = namespace
    failed_setup = None
    for is_test, line, statement in statements:
        if not is_test:
            if failed_setup is not None:
                continue
            try:
                exec(statement, environment)
            except (Exception, SystemExit) as error:
                failed_setup = _tribunal_error(error, 'tests')
                outcome.setdefault('error', failed_setup)
                if _tribunal_status(error):
                    outcome['status'] = 'memory'
            continue
        if len(outcome['tests']) >= max_tests:
            break
        test = {'name': f'line {line}', 'line': line, 'passed': False}
        if failed_setup is not None:
            test['error'] = {'type': 'NotRun', 'message': 'an earlier setup statement of the tests failed',
                             'traceback': '', 'where': 'tests'}
        else:
            try:
                exec(statement, environment)
                test['passed'] = True
            except (Exception, SystemExit) as error:
                test['error'] = _tribunal_error(error, 'tests')
                outcome.setdefault('error', test['error'])
                if _tribunal_status(error):
                    outcome['status'] = 'memory'
        outcome['tests'].append(test)
    if outcome['status'] == 'passed':
        if failed_setup is not None and not outcome['tests']:
            outcome['status'] = 'error'
        elif any(not test['passed'] for test in outcome['tests']):
            outcome['status'] = 'failed'
    return _json.dumps(outcome)


# ---- taint: what a fresh namespace does not reset ------------------------------------------------------------------

_SKIP_FS = ('/dev', '/proc', '/sys', '/lib')


def _tribunal_fs():
    listing = []
    for root, directories, files in _os.walk('/'):
        if root.startswith(_SKIP_FS):
            directories[:] = []
            continue
        for name in files:
            path = _os.path.join(root, name)
            try:
                stat = _os.stat(path)
                listing.append((path, stat.st_size, stat.st_mtime))
            except OSError:
                listing.append((path, -1, -1))
        listing.extend((_os.path.join(root, name), 'dir') for name in directories)
    return sorted(listing, key=repr)


def _tribunal_namespace(dictionary, skip=()):
    """A cheap fingerprint of a namespace: its keys and the identity of each value, and the same for each class in it
    (dicts keep insertion order, so an unchanged namespace gives an equal fingerprint)."""
    keys = tuple(key for key in dictionary if key not in skip) if skip else tuple(dictionary)
    values = tuple(id(dictionary[key]) for key in keys)
    classes = tuple((tuple(value.__dict__), tuple(map(id, value.__dict__.values())))
                    for value in dictionary.values() if isinstance(value, type))
    return (keys, values, classes)


_VOLATILE_SYS = {'last_type', 'last_value', 'last_traceback', 'last_exc', 'modules', 'path_importer_cache'}


def _tribunal_state():
    modules = {}
    for name, module in list(_sys.modules.items()):
        namespace = getattr(module, '__dict__', None)
        if not isinstance(namespace, dict):
            continue
        skip = _VOLATILE_SYS if name == 'sys' else ('cache',) if name == 'linecache' else ()
        modules[name] = (id(module), _tribunal_namespace(namespace, skip))
    return {
        'modules': modules,
        'builtins': _tribunal_namespace(_builtins.__dict__),
        'sys': (list(_sys.path), list(_sys.meta_path), list(_sys.path_hooks), _sys.getrecursionlimit(),
                _sys.gettrace(), _sys.getprofile(), id(_sys.stdout), id(_sys.stderr), id(_sys.stdin),
                _sys.excepthook, dict(_os.environ), _os.getcwd()),
        'fs': _tribunal_fs(),
    }


_BASELINE = [None]


def _tribunal_check_taint():
    """'' when the interpreter is as the baseline left it (modules imported during the run are dropped so the next
    run imports them afresh); otherwise what changed."""
    for key in ('<candidate>', '<tests>'):
        _linecache.cache.pop(key, None)
    for name in [name for name in _sys.modules if name not in _BASELINE[0]['modules']]:
        module = _sys.modules.pop(name)
        parent, _, child = name.rpartition('.')
        if parent in _sys.modules and getattr(_sys.modules[parent], child, None) is module:
            delattr(_sys.modules[parent], child)
    now = _tribunal_state()
    for part in ('builtins', 'sys', 'fs'):
        if now[part] != _BASELINE[0][part]:
            return part
    for name, state in _BASELINE[0]['modules'].items():
        if now['modules'].get(name) != state:
            return f'module {name}'
    return ''


# Warm what the harness needs, then take the baseline.
_tribunal_run('x = 1', 'assert x == 1', None, 10)
for _key in ('<candidate>', '<tests>'):
    _linecache.cache.pop(_key, None)
_BASELINE[0] = _tribunal_state()
`;
