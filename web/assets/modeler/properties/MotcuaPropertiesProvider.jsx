// Properties panel groups for the motcua vocabulary (docs/bpmn-extensions.md):
// procedure and components on the process, the unit on a lane, the time share and form
// fields on a human step, the condition on a gateway's branch.
import {
  CheckboxEntry,
  isCheckboxEntryEdited,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited,
  ListGroup,
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';

import { extension, extensions, isHuman, isNumber, processOf } from '../motcua.js';

const FIELD_TYPES = ['string', 'text', 'integer', 'number', 'boolean', 'date', 'enum'];
const DECIDING = ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'];

// ------------------------------------------------------------ writing extension elements

// The extensionElements of `bo`, created (undoably) when missing.
function ensureExtensionElements(element, bo, bpmnFactory, modeling) {
  let ext = bo.extensionElements;
  if (!ext) {
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  return ext;
}

function addExtension(element, bo, type, attrs, bpmnFactory, modeling) {
  const ext = ensureExtensionElements(element, bo, bpmnFactory, modeling);
  const created = bpmnFactory.create(type, attrs);
  created.$parent = ext;
  modeling.updateModdleProperties(element, ext, { values: [...(ext.values || []), created] });
  return created;
}

function removeExtension(element, bo, target, modeling) {
  const ext = bo.extensionElements;
  if (!ext) return;
  modeling.updateModdleProperties(element, ext, { values: (ext.values || []).filter((v) => v !== target) });
}

// Set one attribute of the first `type` extension of `bo`, creating it when needed; '' removes the attribute.
function setAttr(element, bo, type, attr, value, services, also = {}) {
  const { bpmnFactory, modeling } = services;
  const cleaned = value === '' || value == null ? undefined : value;
  const target = extension(bo, type);
  if (!target) {
    if (cleaned === undefined) return;
    addExtension(element, bo, type, { [attr]: cleaned, ...also }, bpmnFactory, modeling);
    return;
  }
  modeling.updateModdleProperties(element, target, { [attr]: cleaned, ...also });
}

function useServices() {
  return {
    bpmnFactory: useService('bpmnFactory'),
    modeling: useService('modeling'),
    translate: useService('translate'),
    debounce: useService('debounceInput'),
  };
}

// ------------------------------------------------------------ generic entries

function ExtText(props) {
  const { element, id, bo, type, attr, label, validate, description, also } = props;
  const services = useServices();
  const { translate, debounce } = services;
  return (
    <TextFieldEntry
      element={element}
      id={id}
      label={translate(label)}
      description={description ? translate(description) : undefined}
      getValue={() => (extension(bo, type) || {})[attr] || ''}
      setValue={(value) => setAttr(element, bo, type, attr, value, services, also ? also(value) : {})}
      validate={validate ? (value) => (validate(value) ? translate(validate(value)) : null) : undefined}
      debounce={debounce}
    />
  );
}

// A choice stored in an attribute; with `byDefault`, that value stands for the attribute left out.
function ExtSelect(props) {
  const { element, id, bo, type, attr, label, options, byDefault } = props;
  const services = useServices();
  const { translate } = services;
  const getValue = () => (extension(bo, type) || {})[attr] || byDefault || '';
  const setValue = (value) => setAttr(element, bo, type, attr, value === byDefault ? '' : value, services);
  const getOptions = () => {
    const listed = options().map((o) => ({ ...o, label: translate(o.label) }));
    const list = byDefault ? listed : [{ value: '', label: translate('<none>') }, ...listed];
    const current = getValue();
    if (current && !list.some((o) => o.value === current)) {
      list.push({ value: current, label: `${current} (${translate('unknown')})` });
    }
    return list;
  };
  return (
    <SelectEntry element={element} id={id} label={translate(label)} getValue={getValue}
      setValue={setValue} getOptions={getOptions} />
  );
}

// Text and select bound to one given moddle element (a list item: a component, a field).
function ItemText({ element, id, target, attr, label, validate, rows }) {
  const { modeling, translate, debounce } = useServices();
  const Entry = rows ? TextAreaEntry : TextFieldEntry;
  return (
    <Entry element={element} id={id} label={translate(label)} rows={rows}
      getValue={() => target[attr] || ''}
      setValue={(value) => modeling.updateModdleProperties(element, target, { [attr]: value === '' ? undefined : value })}
      validate={validate ? (value) => (validate(value) ? translate(validate(value)) : null) : undefined}
      debounce={debounce} />
  );
}

function ItemSelect({ element, id, target, attr, label, options }) {
  const { modeling, translate } = useServices();
  return (
    <SelectEntry element={element} id={id} label={translate(label)}
      getValue={() => target[attr] || ''}
      setValue={(value) => modeling.updateModdleProperties(element, target, { [attr]: value || undefined })}
      getOptions={() => options.map((value) => ({ value, label: translate(value) }))} />
  );
}

function ItemCheckbox({ element, id, target, attr, label, byDefault }) {
  const { modeling, translate } = useServices();
  return (
    <CheckboxEntry element={element} id={id} label={translate(label)}
      getValue={() => (target[attr] == null || target[attr] === '' ? byDefault : target[attr] === 'true')}
      setValue={(value) => modeling.updateModdleProperties(element, target, { [attr]: value ? 'true' : 'false' })} />
  );
}

const nonNegative = (value) => (value === '' || isNumber(value) ? null : 'Enter a non-negative number, e.g. 2 or 0.5');
const wholePositive = (value) => (value === '' || /^[1-9]\d*$/.test(value) ? null : 'Enter a whole number of at least 1');
const fieldKey = (value) => (/^[A-Za-z][A-Za-z0-9_]*$/.test(value || '') ? null : 'Letters, digits and _, starting with a letter');

// ------------------------------------------------------------ groups

function procedureGroup(element, process) {
  const type = 'motcua:Procedure';
  return {
    id: 'motcua-procedure',
    label: 'Procedure',
    entries: [
      { id: 'motcua-procedure-code', component: ExtText, isEdited: isTextFieldEntryEdited, bo: process, type, attr: 'code',
        label: 'Procedure code', validate: (v) => (/^[A-Za-z0-9._-]{1,40}$/.test(v || '') ? null : 'Letters, digits, - _ . (at most 40)') },
      { id: 'motcua-procedure-limit', component: ExtText, isEdited: isTextFieldEntryEdited, bo: process, type, attr: 'timeLimitDays',
        label: 'Time limit (working days)', description: '0 means the same working day', validate: nonNegative },
      { id: 'motcua-procedure-field', component: ExtText, isEdited: isTextFieldEntryEdited, bo: process, type, attr: 'field',
        label: 'Sector' },
    ],
  };
}

function componentsGroup(element, process, services) {
  const { bpmnFactory, modeling, translate } = services;
  const items = extensions(process, 'motcua:Component').map((component, index) => ({
    id: `motcua-component-${index}`,
    label: component.name || translate('<unnamed>'),
    entries: [
      { id: `motcua-component-${index}-name`, component: ItemText, isEdited: isTextFieldEntryEdited, target: component, attr: 'name', label: 'Paper' },
      { id: `motcua-component-${index}-copies`, component: ItemText, isEdited: isTextFieldEntryEdited, target: component, attr: 'copies', label: 'Copies', validate: wholePositive },
      { id: `motcua-component-${index}-required`, component: ItemCheckbox, isEdited: isCheckboxEntryEdited, target: component, attr: 'required', label: 'Required', byDefault: true },
    ],
    autoFocusEntry: `motcua-component-${index}-name`,
    remove: () => removeExtension(element, process, component, modeling),
  }));
  return {
    id: 'motcua-components',
    label: 'Dossier components',
    component: ListGroup,
    items,
    add: (event) => {
      event.stopPropagation();
      addExtension(element, process, 'motcua:Component', { name: translate('New paper'), copies: '1', required: 'true' }, bpmnFactory, modeling);
    },
  };
}

function unitGroup(element, lane, vocabulary) {
  const type = 'motcua:Unit';
  const types = () => (vocabulary.types || []).map((t) => ({ value: t.type, label: `${t.type} · ${t.example}` }));
  const levels = () => (vocabulary.levels || []).map((level) => ({ value: level, label: level }));
  return {
    id: 'motcua-unit',
    label: 'Processing unit',
    entries: [
      { id: 'motcua-unit-type', component: ExtSelect, isEdited: isSelectEntryEdited, bo: lane, type, attr: 'type', label: 'Unit type', options: types },
      { id: 'motcua-unit-level', component: ExtSelect, isEdited: isSelectEntryEdited, bo: lane, type, attr: 'level', label: 'Level', options: levels },
      { id: 'motcua-unit-fromdata', component: ExtText, isEdited: isTextFieldEntryEdited, bo: lane, type, attr: 'fromData',
        label: 'Or: unit code from dossier data', description: 'A data key holding a unit code, instead of type and level' },
    ],
  };
}

function stepGroup(element, task) {
  const type = 'motcua:Step';
  return {
    id: 'motcua-step',
    label: 'Time share',
    entries: [
      { id: 'motcua-step-days', component: ExtText, isEdited: isTextFieldEntryEdited, bo: task, type, attr: 'days',
        label: 'Working days', validate: nonNegative, also: (value) => (value ? { hours: undefined } : {}) },
      { id: 'motcua-step-hours', component: ExtText, isEdited: isTextFieldEntryEdited, bo: task, type, attr: 'hours',
        label: 'Or working hours', validate: nonNegative, also: (value) => (value ? { days: undefined } : {}) },
      { id: 'motcua-step-clock', component: ExtSelect, isEdited: isSelectEntryEdited, bo: task, type, attr: 'clock', label: 'Clock', byDefault: 'running',
        options: () => [{ value: 'running', label: 'running' }, { value: 'paused', label: 'paused' }] },
    ],
  };
}

function fieldsGroup(element, task, services) {
  const { bpmnFactory, modeling, translate } = services;
  const items = extensions(task, 'motcua:Field').map((field, index) => {
    const base = `motcua-field-${index}`;
    const entries = [
      { id: `${base}-key`, component: ItemText, isEdited: isTextFieldEntryEdited, target: field, attr: 'key', label: 'Key', validate: fieldKey },
      { id: `${base}-label`, component: ItemText, isEdited: isTextFieldEntryEdited, target: field, attr: 'label', label: 'Label' },
      { id: `${base}-type`, component: ItemSelect, isEdited: isSelectEntryEdited, target: field, attr: 'type', label: 'Type', options: FIELD_TYPES },
      { id: `${base}-required`, component: ItemCheckbox, isEdited: isCheckboxEntryEdited, target: field, attr: 'required', label: 'Required', byDefault: false },
    ];
    if (field.type === 'enum') {
      entries.push({ id: `${base}-options`, component: ItemText, isEdited: isTextFieldEntryEdited, target: field, attr: 'options', label: 'Options (comma-separated)' });
    }
    return {
      id: base,
      label: field.label || field.key || translate('<unnamed>'),
      entries,
      autoFocusEntry: `${base}-key`,
      remove: () => removeExtension(element, task, field, modeling),
    };
  });
  return {
    id: 'motcua-fields',
    label: 'Form fields',
    component: ListGroup,
    items,
    add: (event) => {
      event.stopPropagation();
      const taken = new Set(extensions(task, 'motcua:Field').map((f) => f.key));
      let n = 1;
      while (taken.has(`truong_${n}`)) n += 1;
      addExtension(element, task, 'motcua:Field', { key: `truong_${n}`, type: 'string', label: '', required: 'false' }, bpmnFactory, modeling);
    },
  };
}

function ConditionEntry({ element, id }) {
  const { bpmnFactory, modeling, translate, debounce } = useServices();
  const bo = element.businessObject;
  return (
    <TextAreaEntry element={element} id={id} label={translate('Condition (Python syntax over the dossier data)')} rows={2}
      getValue={() => (bo.conditionExpression && bo.conditionExpression.body) || ''}
      setValue={(value) => {
        const text = (value || '').trim();
        const expression = text ? bpmnFactory.create('bpmn:FormalExpression', { body: text }) : undefined;
        modeling.updateProperties(element, { conditionExpression: expression });
      }}
      debounce={debounce} />
  );
}

function DefaultFlowEntry({ element, id }) {
  const { modeling, translate } = useServices();
  const bo = element.businessObject;
  const source = element.source;
  return (
    <CheckboxEntry element={element} id={id} label={translate('Default branch (taken when no condition holds)')}
      getValue={() => !!(source && source.businessObject.default === bo)}
      setValue={(value) => modeling.updateProperties(source, { default: value ? bo : undefined })} />
  );
}

function conditionGroup(element) {
  return {
    id: 'motcua-condition',
    label: 'Branch condition',
    entries: [
      { id: 'motcua-condition-default', component: DefaultFlowEntry, isEdited: isCheckboxEntryEdited },
      { id: 'motcua-condition-expression', component: ConditionEntry, isEdited: isTextAreaEntryEdited },
    ],
  };
}

// ------------------------------------------------------------ the provider

export default class MotcuaPropertiesProvider {
  constructor(propertiesPanel, injector, config) {
    this._injector = injector;
    this._vocabulary = (config && config.vocabulary) || { types: [], levels: [] };
    propertiesPanel.registerProvider(400, this);
  }

  getGroups(element) {
    return (groups) => {
      const services = {
        bpmnFactory: this._injector.get('bpmnFactory'),
        modeling: this._injector.get('modeling'),
        translate: this._injector.get('translate'),
      };
      const bo = element.businessObject;
      const translateGroup = (group) => ({ ...group, label: services.translate(group.label) });
      const ours = [];
      const process = processOf(bo);
      if (process) {
        ours.push(procedureGroup(element, process), componentsGroup(element, process, services));
      } else if (bo.$type === 'bpmn:Lane') {
        ours.push(unitGroup(element, bo, this._vocabulary));
      } else if (isHuman(bo)) {
        ours.push(stepGroup(element, bo), fieldsGroup(element, bo, services));
      } else if (bo.$type === 'bpmn:SequenceFlow' && element.source && DECIDING.includes(element.source.businessObject.$type)) {
        ours.push(conditionGroup(element));
      }
      // Ours right after "General", so a designer sees them without scrolling.
      const at = Math.min(1, groups.length);
      groups.splice(at, 0, ...ours.map(translateGroup));
      return groups;
    };
  }
}

MotcuaPropertiesProvider.$inject = ['propertiesPanel', 'injector', 'config.motcua'];
